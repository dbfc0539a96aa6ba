// 16550A UART register behaviour, as the Linux 8250 driver probes and uses it.
#include "devices/legacy/serial_8250.h"

#include <linux/serial_reg.h>

#include <optional>

namespace franca {
namespace {
constexpr uint8_t kIerMask = 0x0f;
constexpr uint8_t kMcrMask = 0x1f;
constexpr uint8_t kIirFifoBits = 0xc0;
}  // namespace

void Serial8250::read(uint64_t offset, std::span<uint8_t> data) {
  if (data.empty()) return;
  {
    std::lock_guard lock(mutex_);
    data[0] = read_register(offset);
  }
  for (size_t i = 1; i < data.size(); ++i) data[i] = 0;
}

void Serial8250::write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.empty()) return;
  bool raise = false;
  std::optional<uint8_t> out;
  {
    std::lock_guard lock(mutex_);
    out = write_register(offset, data[0]);
    // The interrupt is an edge on the ISA line (IOAPIC pin 4): send one for every
    // write that (re)creates the condition, as a 16550 re-asserts THRE whenever
    // the transmitter is idle. An edge lost while the guest had the pin masked
    // is thus re-sent by the next THR/IER/MCR write.
    const bool dlab = lcr_ & UART_LCR_DLAB;
    const bool may_raise = offset == UART_MCR || (!dlab && (offset == UART_TX || offset == UART_IER));
    raise = may_raise && irq_pending_locked();
    if (raise) iir_read_since_check_ = false;
  }
  if (out && sink_) sink_(std::span<const uint8_t>(&*out, 1));
  if (raise) pulse();
}

size_t Serial8250::enqueue_input(std::span<const uint8_t> bytes) {
  bool raise = false;
  size_t taken = 0;
  {
    std::lock_guard lock(mutex_);
    while (taken < bytes.size() && rx_.size() < kRxCapacity) rx_.push_back(bytes[taken++]);
    raise = taken > 0 && irq_pending_locked();
    if (raise) iir_read_since_check_ = false;
  }
  if (raise) pulse();
  return taken;
}

bool Serial8250::resend_stuck_interrupt() {
  bool raise, pending;
  {
    std::lock_guard lock(mutex_);
    pending = irq_pending_locked();
    raise = pending && !iir_read_since_check_;
    iir_read_since_check_ = false;
  }
  if (raise) irq_->pulse();
  return pending;
}

void Serial8250::pulse() {
  irq_->pulse();
  if (on_interrupt_) on_interrupt_();
}

uint8_t Serial8250::read_register(uint64_t offset) {
  const bool dlab = lcr_ & UART_LCR_DLAB;
  switch (offset) {
    case UART_RX: {
      if (dlab) return dll_;
      if (rx_.empty()) return 0;
      const uint8_t byte = rx_.front();
      rx_.pop_front();
      return byte;
    }
    case UART_IER:
      return dlab ? dlm_ : ier_;
    case UART_IIR: {
      iir_read_since_check_ = true;
      const uint8_t iir = interrupt_id();
      if ((iir & 0x0f) == UART_IIR_THRI) thr_empty_pending_ = false;  // reading IIR clears THRE
      return iir | ((fcr_ & UART_FCR_ENABLE_FIFO) ? kIirFifoBits : 0);
    }
    case UART_LCR:
      return lcr_;
    case UART_MCR:
      return mcr_;
    case UART_LSR:
      return UART_LSR_TEMT | UART_LSR_THRE | (rx_.empty() ? 0 : UART_LSR_DR);
    case UART_MSR:
      if (mcr_ & UART_MCR_LOOP) {  // loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD
        return static_cast<uint8_t>(
            ((mcr_ & UART_MCR_DTR) ? UART_MSR_DSR : 0) | ((mcr_ & UART_MCR_RTS) ? UART_MSR_CTS : 0) |
            ((mcr_ & UART_MCR_OUT1) ? UART_MSR_RI : 0) | ((mcr_ & UART_MCR_OUT2) ? UART_MSR_DCD : 0));
      }
      return msr_;
    case UART_SCR:
      return scr_;
    default:
      return 0xff;
  }
}

std::optional<uint8_t> Serial8250::write_register(uint64_t offset, uint8_t value) {
  const bool dlab = lcr_ & UART_LCR_DLAB;
  switch (offset) {
    case UART_TX:
      if (dlab) {
        dll_ = value;
        return std::nullopt;
      }
      thr_empty_pending_ = true;  // the byte leaves at once: THR is empty again
      if (mcr_ & UART_MCR_LOOP) {
        if (rx_.size() < kRxCapacity) rx_.push_back(value);
        return std::nullopt;
      }
      return value;
    case UART_IER:
      if (dlab) {
        dlm_ = value;
      } else {
        const bool thri_enabled = !(ier_ & UART_IER_THRI) && (value & UART_IER_THRI);
        ier_ = value & kIerMask;
        if (thri_enabled) thr_empty_pending_ = true;
      }
      return std::nullopt;
    case UART_FCR:
      fcr_ = value;
      if (value & UART_FCR_CLEAR_RCVR) rx_.clear();
      return std::nullopt;
    case UART_LCR:
      lcr_ = value;
      return std::nullopt;
    case UART_MCR:
      mcr_ = value & kMcrMask;
      return std::nullopt;
    case UART_SCR:
      scr_ = value;
      return std::nullopt;
    default:  // LSR and MSR are read-only
      return std::nullopt;
  }
}

uint8_t Serial8250::interrupt_id() const {
  if ((ier_ & UART_IER_RDI) && !rx_.empty()) return UART_IIR_RDI;
  if ((ier_ & UART_IER_THRI) && thr_empty_pending_) return UART_IIR_THRI;
  return UART_IIR_NO_INT;
}

bool Serial8250::irq_pending_locked() const {
  // On a PC, OUT2 gates the UART's interrupt onto the ISA bus.
  return interrupt_id() != UART_IIR_NO_INT && (mcr_ & UART_MCR_OUT2) && !(mcr_ & UART_MCR_LOOP);
}

}  // namespace franca
