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
class PciInterrupt : public Interrupt {
 public:
  static constexpr uint8_t kIsrQueue = 1, kIsrConfig = 2;

  // Every vector starts as NO_VECTOR, the ISR clear and INTx low.
  PciInterrupt(std::shared_ptr<pci::Msix> msix, std::shared_ptr<IrqLine> intx, size_t queues)
      : msix_(std::move(msix)),
        intx_(std::move(intx)),
        queue_vectors_(std::make_unique<std::atomic<uint16_t>[]>(queues)),
        queues_(queues) {
    reset();
  }

  // The vectors the driver programs (common cfg msix_config / queue_msix_vector).
  uint16_t config_vector() const { return config_vector_.load(std::memory_order_acquire); }
  // Release: pairs with the acquire in signal_config() on the loop thread.
  void set_config_vector(uint16_t vector) { config_vector_.store(vector, std::memory_order_release); }
  // Release: pairs with the acquire in signal_used(). Ignored for a queue that does not exist.
  void set_queue_vector(uint16_t queue, uint16_t vector) {
    if (queue < queues_) queue_vectors_[queue].store(vector, std::memory_order_release);
  }

  uint8_t take_isr() {  // ISR read: returns and clears, deasserts INTx
    std::lock_guard lock(mutex_);
    const uint8_t v = std::exchange(isr_, 0);
    update_level();
    return v;
  }
  void set_intx_disabled(bool disabled) {
    std::lock_guard lock(mutex_);
    intx_disabled_ = disabled;
    update_level();
  }
  bool intx_pending() {
    std::lock_guard lock(mutex_);
    return level_;
  }
  void signal_used(uint16_t queue) override {
    if (!msix_->enabled()) return raise(kIsrQueue);
    const uint16_t v = queue < queues_ ? queue_vectors_[queue].load(std::memory_order_acquire) : VIRTIO_MSI_NO_VECTOR;
    if (v != VIRTIO_MSI_NO_VECTOR) msix_->signal(v);
  }
  // The queue's MSI-X vector's irqfd while MSI-X is on and the queue has a
  // vector (the vector's masks gate it); -1 with INTx, where the ISR must be set.
  int queue_notifier(uint16_t queue) const override {
    if (!msix_->enabled() || queue >= queues_) return -1;
    const uint16_t v = queue_vectors_[queue].load(std::memory_order_acquire);
    return v == VIRTIO_MSI_NO_VECTOR ? -1 : msix_->notifier(v);
  }
  void signal_config() override {
    raise(kIsrConfig);  // set in both modes (§4.1.5.3); asserts INTx only without MSI-X
    const uint16_t v = config_vector_.load(std::memory_order_acquire);
    if (msix_->enabled() && v != VIRTIO_MSI_NO_VECTOR) msix_->signal(v);
  }
  // Device reset: every vector back to NO_VECTOR, the ISR cleared (INTx deasserted).
  void reset() {
    for (size_t i = 0; i < queues_; ++i) queue_vectors_[i].store(VIRTIO_MSI_NO_VECTOR);
    config_vector_.store(VIRTIO_MSI_NO_VECTOR);
    take_isr();
  }

 private:
  void update_level() {  // under mutex_
    const bool want = isr_ != 0 && !intx_disabled_ && !msix_->enabled();
    if (want == level_) return;
    level_ = want;
    intx_->set_level(want);
  }
  void raise(uint8_t bit) {
    std::lock_guard lock(mutex_);
    isr_ |= bit;
    update_level();
  }

  const std::shared_ptr<pci::Msix> msix_;
  const std::shared_ptr<IrqLine> intx_;
  const std::unique_ptr<std::atomic<uint16_t>[]> queue_vectors_;
  const size_t queues_;
  std::atomic<uint16_t> config_vector_{VIRTIO_MSI_NO_VECTOR};
  std::mutex mutex_;  // isr_, level_, intx_disabled_
  uint8_t isr_ = 0;
  bool level_ = false;
  bool intx_disabled_ = false;
};

}  // namespace franca::virtio
