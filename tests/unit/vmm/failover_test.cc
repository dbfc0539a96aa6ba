// The failover pair's decisions: the primary is present exactly when the
// standby's driver accepted STANDBY in its last negotiation and the user has
// not unplugged it; one action at a time; a failure waits for the next event.
#include "vmm/failover.h"

#include <gtest/gtest.h>

namespace franca {
namespace {

using Action = FailoverPolicy::Action;

// Runs the pending action to completion (ok) and returns it.
Action settle(FailoverPolicy& p) {
  const Action a = p.next();
  if (a != Action::kNone) p.done(a, true);
  return a;
}

TEST(FailoverPolicy, HiddenUntilTheDriverAcceptsStandby) {
  FailoverPolicy p;
  EXPECT_EQ(p.state(), "waiting");
  EXPECT_EQ(p.next(), Action::kNone);  // no negotiation yet: nothing plugged
  p.negotiated(true);
  EXPECT_EQ(p.next(), Action::kPlug);
  EXPECT_EQ(p.state(), "plugging");
  EXPECT_FALSE(p.settled());
  p.done(Action::kPlug, true);
  EXPECT_TRUE(p.present());
  EXPECT_TRUE(p.settled());
  EXPECT_EQ(p.state(), "plugged");
  EXPECT_EQ(p.next(), Action::kNone);
}

TEST(FailoverPolicy, ADriverWithoutStandbyNeverSeesThePrimary) {
  FailoverPolicy p;
  p.negotiated(false);
  EXPECT_EQ(p.next(), Action::kNone);
  EXPECT_EQ(p.state(), "hidden");
  EXPECT_EQ(p.driver(), FailoverPolicy::Driver::kRefused);
  p.set_wanted(true);  // failover-plug cannot override the guest
  EXPECT_EQ(p.next(), Action::kNone);
  EXPECT_FALSE(p.present());
}

TEST(FailoverPolicy, ResetAndRenegotiationWithoutStandbyUnplugsThePrimary) {
  FailoverPolicy p;
  p.negotiated(true);
  EXPECT_EQ(settle(p), Action::kPlug);
  // The guest reboots into a kernel without failover: reset, FEATURES_OK without the bit.
  p.negotiated(false);
  EXPECT_EQ(p.next(), Action::kUnplug);
  EXPECT_EQ(p.state(), "unplugging");
  p.done(Action::kUnplug, true);
  EXPECT_FALSE(p.present());
  EXPECT_EQ(p.state(), "hidden");
  // And back into one with failover: plugged again.
  p.negotiated(true);
  EXPECT_EQ(settle(p), Action::kPlug);
  EXPECT_TRUE(p.present());
}

TEST(FailoverPolicy, RenegotiationWithStandbyKeepsThePrimary) {
  FailoverPolicy p;
  p.negotiated(true);
  settle(p);
  p.negotiated(true);  // a driver reload that accepts STANDBY again
  EXPECT_EQ(p.next(), Action::kNone);
  EXPECT_TRUE(p.present());
}

TEST(FailoverPolicy, UserUnplugAndPlug) {
  FailoverPolicy p;
  p.negotiated(true);
  settle(p);
  p.set_wanted(false);
  EXPECT_EQ(settle(p), Action::kUnplug);
  EXPECT_EQ(p.state(), "unplugged");
  p.negotiated(true);  // a renegotiation does not undo the user's unplug
  EXPECT_EQ(p.next(), Action::kNone);
  p.set_wanted(true);
  EXPECT_EQ(settle(p), Action::kPlug);
  EXPECT_EQ(p.state(), "plugged");
}

TEST(FailoverPolicy, OneActionAtATimeAndTheLatestWishWins) {
  FailoverPolicy p;
  p.negotiated(true);
  EXPECT_EQ(p.next(), Action::kPlug);
  p.set_wanted(false);                 // while the plug is in flight
  EXPECT_EQ(p.next(), Action::kNone);  // busy
  EXPECT_EQ(p.peek(), Action::kNone);
  p.done(Action::kPlug, true);
  EXPECT_FALSE(p.settled());
  EXPECT_EQ(p.next(), Action::kUnplug);  // then undone
  p.done(Action::kUnplug, true);
  EXPECT_TRUE(p.settled());
  EXPECT_FALSE(p.present());
}

TEST(FailoverPolicy, AFailureWaitsForTheNextEventAndSaysWhy) {
  FailoverPolicy p;
  p.negotiated(true);
  EXPECT_EQ(p.next(), Action::kPlug);
  p.done(Action::kPlug, false, "IOMMU group 7 is not viable");
  EXPECT_EQ(p.state(), "failed");
  EXPECT_EQ(p.error(), "IOMMU group 7 is not viable");
  EXPECT_TRUE(p.settled());            // a failover-plug waiting on it returns
  EXPECT_EQ(p.next(), Action::kNone);  // no retry loop
  p.set_wanted(true);                  // the user tries again
  EXPECT_EQ(settle(p), Action::kPlug);
  EXPECT_TRUE(p.error().empty());
  EXPECT_EQ(p.state(), "plugged");
  // A failed unplug (the guest did not eject) leaves the primary present.
  p.negotiated(false);
  EXPECT_EQ(p.next(), Action::kUnplug);
  p.done(Action::kUnplug, false, "not ejected");
  EXPECT_TRUE(p.present());
  p.done(Action::kPlug, true);  // a stray completion changes nothing
  EXPECT_TRUE(p.present());
  EXPECT_EQ(p.state(), "failed");
}

}  // namespace
}  // namespace franca
