// A 16550A UART (8250 family) as the PC's COM1: register file, FIFO-less
// THR, bounded RX FIFO fed from the host, interrupts on an IrqLine.
// Implements: RBR/THR, IER, IIR/FCR, LCR (DLAB), MCR (incl. loopback), LSR, MSR, SCR.
// Does not implement: modem-status interrupts from the host side, baud timing.
// Example: franca --kernel bzImage --serial stdio --cmdline console=ttyS0
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>

#include "vmm/core/bus.h"
#include "vmm/core/host_input.h"

namespace franca {

class Serial8250 : public BusDevice, public HostInputSink {
 public:
  using Sink = std::function<void(std::span<const uint8_t>)>;
  static constexpr size_t kRxCapacity = 4096;

  Serial8250(std::shared_ptr<IrqLine> irq, Sink sink) : irq_(std::move(irq)), sink_(std::move(sink)) {}

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  // Host input (any thread). Returns how many bytes were accepted; the rest
  // should be offered again later (the RX FIFO is bounded, nothing is dropped here).
  size_t enqueue_input(std::span<const uint8_t> bytes);
  // HostInputSink: the same as enqueue_input (--serial stdio).
  size_t input(std::span<const uint8_t> bytes) override { return enqueue_input(bytes); }

  // `fn` runs (on the thread that caused it, outside the UART's lock) after
  // every interrupt edge the UART sends: the owner schedules a
  // resend_stuck_interrupt() check for a little later. Set before the guest runs.
  void set_on_interrupt(std::function<void()> fn) { on_interrupt_ = std::move(fn); }

  // The check (vmm-io loop): re-sends the interrupt if one has been pending
  // since the last edge or check without the guest reading IIR, so an edge lost
  // while the guest had the IOAPIC pin masked cannot stall the tty forever.
  // Returns true while an interrupt is still pending (check again later), false
  // once there is none, so an idle UART needs no periodic wakeup.
  bool resend_stuck_interrupt();

 private:
  uint8_t read_register(uint64_t offset);
  // Returns a byte to send to the sink, if the write produced output.
  std::optional<uint8_t> write_register(uint64_t offset, uint8_t value);
  uint8_t interrupt_id() const;
  // True when an interrupt condition is pending and OUT2 lets it reach the bus.
  bool irq_pending_locked() const;

  // Sends the edge, then tells the owner (on_interrupt_).
  void pulse();

  std::shared_ptr<IrqLine> irq_;
  Sink sink_;
  std::function<void()> on_interrupt_;
  std::mutex mutex_;
  std::deque<uint8_t> rx_;
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, dll_ = 0x0c, dlm_ = 0, fcr_ = 0;
  uint8_t msr_ = 0xb0;              // DCD, DSR, CTS: a cable is attached
  bool thr_empty_pending_ = false;  // THRE interrupt until IIR read or THR write
  bool iir_read_since_check_ = false;
};

}  // namespace franca
