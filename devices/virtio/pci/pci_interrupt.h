// virtio-pci interrupt delivery (virtio 1.x §4.1.4.5 ISR, §4.1.5.3-4): per-queue
// and config MSI-X vectors, or the ISR bits with a level on INTA when MSI-X is off.
#pragma once

#include <linux/virtio_pci.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <utility>

#include "devices/pci/msix.h"
#include "devices/virtio/device.h"
#include "vmm/core/bus.h"

namespace franca::virtio {

// Device -> driver notifications: an MSI-X vector per queue / for config, or
// the ISR bits and a level on INTA. Thread-safe (loop thread and vCPUs).
struct PciInterrupt : Interrupt {
  static constexpr uint8_t kIsrQueue = 1, kIsrConfig = 2;

  std::shared_ptr<pci::Msix> msix;
  std::shared_ptr<IrqLine> intx;
  std::unique_ptr<std::atomic<uint16_t>[]> queue_vectors;
  size_t queues = 0;
  std::atomic<uint16_t> config_vector{VIRTIO_MSI_NO_VECTOR};
  std::mutex mutex;  // isr, level, intx_disabled
  uint8_t isr = 0;
  bool level = false;
  bool intx_disabled = false;

  void update_level() {
    const bool want = isr != 0 && !intx_disabled && !msix->enabled();
    if (want == level) return;
    level = want;
    intx->set_level(want);
  }
  void raise(uint8_t bit) {
    std::lock_guard lock(mutex);
    isr |= bit;
    update_level();
  }
  uint8_t take_isr() {  // ISR read: returns and clears, deasserts INTx
    std::lock_guard lock(mutex);
    const uint8_t v = std::exchange(isr, 0);
    update_level();
    return v;
  }
  void set_intx_disabled(bool disabled) {
    std::lock_guard lock(mutex);
    intx_disabled = disabled;
    update_level();
  }
  bool intx_pending() {
    std::lock_guard lock(mutex);
    return level;
  }
  void signal_used(uint16_t queue) override {
    if (!msix->enabled()) return raise(kIsrQueue);
    const uint16_t v = queue < queues ? queue_vectors[queue].load(std::memory_order_acquire) : VIRTIO_MSI_NO_VECTOR;
    if (v != VIRTIO_MSI_NO_VECTOR) msix->signal(v);
  }
  void signal_config() override {
    raise(kIsrConfig);  // set in both modes (§4.1.5.3); asserts INTx only without MSI-X
    const uint16_t v = config_vector.load(std::memory_order_acquire);
    if (msix->enabled() && v != VIRTIO_MSI_NO_VECTOR) msix->signal(v);
  }
  void reset() {
    for (size_t i = 0; i < queues; ++i) queue_vectors[i].store(VIRTIO_MSI_NO_VECTOR);
    config_vector.store(VIRTIO_MSI_NO_VECTOR);
    take_isr();
  }
};

}  // namespace franca::virtio
