// 8250 UART register behaviour as Linux's 8250 driver relies on it.
#include "devices/legacy/serial_8250.h"

#include <gtest/gtest.h>
#include <linux/serial_reg.h>

#include <random>
#include <string>

#include "tests/support/fake_irq.h"

namespace franca {
namespace {

class Serial8250Test : public ::testing::Test {
 protected:
  uint8_t in(uint64_t reg) {
    uint8_t v = 0;
    uart_.read(reg, std::span(&v, 1));
    return v;
  }
  void out(uint64_t reg, uint8_t v) { uart_.write(reg, std::span<const uint8_t>(&v, 1)); }
  void enable_irqs(uint8_t ier) {
    out(UART_MCR, UART_MCR_OUT2 | UART_MCR_DTR | UART_MCR_RTS);
    out(UART_IER, ier);
  }

  std::shared_ptr<testing::FakeIrq> irq_ = std::make_shared<testing::FakeIrq>();
  std::string output_;
  Serial8250 uart_{irq_, [this](std::span<const uint8_t> b) { output_.append(b.begin(), b.end()); }};
};

TEST_F(Serial8250Test, ScratchRegisterRoundTrips) {
  out(UART_SCR, 0xa5);
  EXPECT_EQ(in(UART_SCR), 0xa5);
}

TEST_F(Serial8250Test, DivisorLatchRoundTripsUnderDlab) {
  out(UART_LCR, UART_LCR_DLAB);
  out(UART_DLL, 0x01);
  out(UART_DLM, 0x02);
  EXPECT_EQ(in(UART_DLL), 0x01);
  EXPECT_EQ(in(UART_DLM), 0x02);
  out(UART_LCR, 0x03);
  EXPECT_EQ(in(UART_IER), 0);
  EXPECT_TRUE(output_.empty());
}

TEST_F(Serial8250Test, IerKeepsOnlyFourBits) {
  out(UART_IER, 0xff);
  EXPECT_EQ(in(UART_IER), 0x0f);
}

TEST_F(Serial8250Test, IdleLineStatusShowsTransmitterEmpty) { EXPECT_EQ(in(UART_LSR), UART_LSR_THRE | UART_LSR_TEMT); }

TEST_F(Serial8250Test, HostInputSinkFeedsTheReceiver) {
  HostInputSink& sink = uart_;
  const uint8_t bytes[] = {'x'};
  EXPECT_EQ(sink.input(bytes), 1u);
  EXPECT_TRUE(in(UART_LSR)&UART_LSR_DR);
  EXPECT_EQ(in(UART_RX), 'x');
}

TEST_F(Serial8250Test, InputSetsDataReadyAndIsReadInOrder) {
  const uint8_t bytes[] = {'h', 'i'};
  EXPECT_EQ(uart_.enqueue_input(bytes), 2u);
  EXPECT_TRUE(in(UART_LSR)&UART_LSR_DR);
  EXPECT_EQ(in(UART_RX), 'h');
  EXPECT_EQ(in(UART_RX), 'i');
  EXPECT_FALSE(in(UART_LSR)&UART_LSR_DR);
}

TEST_F(Serial8250Test, OutputBytesReachTheSink) {
  for (char c : std::string("ok\n")) out(UART_TX, static_cast<uint8_t>(c));
  EXPECT_EQ(output_, "ok\n");
}

TEST_F(Serial8250Test, EnablingThriRaisesThreInterruptClearedByIirRead) {
  enable_irqs(UART_IER_THRI);
  EXPECT_EQ(irq_->raised, 1);
  EXPECT_EQ(in(UART_IIR)&0x0f, UART_IIR_THRI);
  EXPECT_EQ(in(UART_IIR)&0x0f, UART_IIR_NO_INT);
}

TEST_F(Serial8250Test, EachThrWriteRaisesAnotherThreInterrupt) {
  enable_irqs(UART_IER_THRI);
  in(UART_IIR);
  out(UART_TX, 'a');
  EXPECT_EQ(irq_->raised, 2);
}

// Regression: an edge lost while the guest had the pin masked left the UART
// "asserted" forever and userspace console output stalled.
TEST_F(Serial8250Test, UnacknowledgedThreIsSignalledAgainOnTheNextThrWrite) {
  enable_irqs(UART_IER_THRI);
  out(UART_TX, 'a');  // no IIR read in between: the first edge went unanswered
  out(UART_TX, 'b');
  EXPECT_EQ(irq_->raised, 3);
}

TEST_F(Serial8250Test, StuckInterruptIsResentByThePeriodicCheck) {
  enable_irqs(UART_IER_THRI);  // edge sent; suppose the guest had the pin masked
  uart_.resend_stuck_interrupt();
  EXPECT_EQ(irq_->raised, 2);
}

TEST_F(Serial8250Test, PeriodicCheckStaysQuietWhileTheGuestServicesInterrupts) {
  enable_irqs(UART_IER_THRI | UART_IER_RDI);
  const uint8_t b = 'x';
  uart_.enqueue_input(std::span(&b, 1));
  in(UART_IIR);  // the guest's handler ran
  const int before = irq_->raised;
  uart_.resend_stuck_interrupt();
  EXPECT_EQ(irq_->raised, before);
}

TEST_F(Serial8250Test, PeriodicCheckIsQuietWithNothingPending) {
  EXPECT_FALSE(uart_.resend_stuck_interrupt());
  EXPECT_EQ(irq_->raised, 0);
}

// The owner schedules its check from on_interrupt: it is told of every edge,
// and the check asks to run again only while an interrupt is still pending.
TEST_F(Serial8250Test, EveryEdgeIsReportedAndTheCheckSaysWhileOneIsPending) {
  int reported = 0;
  uart_.set_on_interrupt([&] { ++reported; });
  enable_irqs(UART_IER_THRI | UART_IER_RDI);
  EXPECT_EQ(reported, irq_->raised);
  EXPECT_TRUE(uart_.resend_stuck_interrupt());  // THRE unanswered: re-sent, still pending
  in(UART_IIR);                                 // the guest's handler reads IIR: THRE cleared
  EXPECT_FALSE(uart_.resend_stuck_interrupt());
  const uint8_t b = 'x';
  uart_.enqueue_input(std::span(&b, 1));
  EXPECT_EQ(reported, 2);  // the first edge and the input's (the check's resend is not reported)
  EXPECT_TRUE(uart_.resend_stuck_interrupt());
  in(UART_RX);
  EXPECT_FALSE(uart_.resend_stuck_interrupt());
}

TEST_F(Serial8250Test, SettingOut2WithAPendingInterruptSignalsIt) {
  out(UART_IER, UART_IER_THRI);
  EXPECT_EQ(irq_->raised, 0);
  out(UART_MCR, UART_MCR_OUT2);
  EXPECT_EQ(irq_->raised, 1);
}

TEST_F(Serial8250Test, ReceivedDataTakesPriorityOverThre) {
  enable_irqs(UART_IER_THRI | UART_IER_RDI);
  const uint8_t b = 'x';
  uart_.enqueue_input(std::span(&b, 1));
  EXPECT_EQ(in(UART_IIR)&0x0f, UART_IIR_RDI);
}

TEST_F(Serial8250Test, InputRaisesInterruptWhenRdiEnabled) {
  enable_irqs(UART_IER_RDI);
  EXPECT_EQ(irq_->raised, 0);
  const uint8_t b = 'x';
  uart_.enqueue_input(std::span(&b, 1));
  EXPECT_EQ(irq_->raised, 1);
}

TEST_F(Serial8250Test, NoInterruptWithoutOut2) {
  out(UART_IER, UART_IER_THRI);
  EXPECT_EQ(irq_->raised, 0);
}

TEST_F(Serial8250Test, LoopbackRoutesThrToRbrAndMirrorsModemLines) {
  out(UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2 | UART_MCR_RTS);
  out(UART_TX, 0x5a);
  EXPECT_TRUE(output_.empty());
  EXPECT_EQ(in(UART_RX), 0x5a);
  EXPECT_EQ(in(UART_MSR)&0xf0, UART_MSR_DCD | UART_MSR_CTS);
}

TEST_F(Serial8250Test, RxFifoIsBoundedAndReportsWhatItTook) {
  std::vector<uint8_t> lots(Serial8250::kRxCapacity + 10, 'a');
  EXPECT_EQ(uart_.enqueue_input(lots), Serial8250::kRxCapacity);
}

TEST_F(Serial8250Test, RandomRegisterTrafficNeverCrashes) {
  std::mt19937 rng(42);
  for (int i = 0; i < 100000; ++i) {
    const uint64_t reg = rng() % 10;  // includes offsets beyond the 8 registers
    if (rng() & 1)
      out(reg, static_cast<uint8_t>(rng()));
    else
      in(reg);
  }
  SUCCEED();
}

}  // namespace
}  // namespace franca
