// Fakes for the VMM side of PCI: a BAR host over a real Bus that records
// notify registrations, and an MSI sink that records routes and deliveries.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "devices/pci/pci_function.h"
#include "vmm/core/bus.h"

namespace franca::testing {

class FakeBarHost : public pci::PciBarHost {
 public:
  Result<void> map(uint64_t base, uint64_t size, std::shared_ptr<BusDevice> device) override {
    return bus.insert(base, size, std::move(device));
  }
  void unmap(uint64_t base) override { bus.remove(base); }
  Result<void> add_notify(int fd, uint64_t addr) override {
    notifies.insert({addr, fd});
    return {};
  }
  void remove_notify(int fd, uint64_t addr) override { notifies.erase({addr, fd}); }

  Bus bus{"fake-mmio"};
  std::set<std::pair<uint64_t, int>> notifies;  // (address, eventfd)
};

class FakeMsiSink : public pci::MsiSink {
 public:
  struct Message {
    uint64_t address;
    uint32_t data;
  };
  void route(uint16_t vector, uint64_t address, uint32_t data) override {
    std::lock_guard lock(mutex);
    routes[vector] = {address, data};
  }
  void fire(uint16_t vector) override {
    std::lock_guard lock(mutex);
    fired.push_back(vector);
  }
  std::vector<uint16_t> fired_vectors() {
    std::lock_guard lock(mutex);
    return fired;
  }
  // set_open calls in order, "+1" / "-1"; a route must come before the first open.
  void set_open(uint16_t vector, bool open) override {
    std::lock_guard lock(mutex);
    std::string entry(1, open ? '+' : '-');
    entry += std::to_string(vector);
    opens.push_back(std::move(entry));
    if (open && !routes.contains(vector)) opened_unrouted = true;
  }
  int notifier(uint16_t vector) const override { return 100 + vector; }
  std::vector<std::string> open_log() {
    std::lock_guard lock(mutex);
    return opens;
  }
  std::vector<std::string> opens;
  bool opened_unrouted = false;

  std::mutex mutex;
  std::map<uint16_t, Message> routes;
  std::vector<uint16_t> fired;
};

}  // namespace franca::testing
