// virtio-blk (virtio 1.x §5.2 "Block Device") over a raw image file or host
// block device.
//
// Implements: IN, OUT, FLUSH (fdatasync), GET_ID (serial), DISCARD (punch
// hole), WRITE_ZEROES (punch hole / zero range / written zeros), one or more
// request queues, split and packed rings, read-only disks, an OFD lock on the
// image. I/O runs on the vmm-io loop through io_uring (no thread of its own:
// the kernel's io-wq does the blocking), or synchronously when io_uring is
// unavailable or FRANCA_BLK_NO_URING=1 is set.
// Does not implement: qcow2 or other formats, O_DIRECT, CONFIG_WCE, GEOMETRY,
// SECURE_ERASE, zoned devices, GET_LIFETIME, capacity change at runtime.
// Features offered: version_1 ring_packed event_idx indirect_desc flush
// blk_size seg_max size_max topology mq (+ discard write_zeroes, or ro when
// read-only), minus the user's features= mask.
// Example: franca --kernel bzImage --disk path=disk.img,serial=root0,queues=2
//          franca --kernel bzImage --disk path=base.img,readonly=on,features=-discard
#pragma once

#include <linux/virtio_blk.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "devices/virtio/block/block_config.h"
#include "devices/virtio/block/image.h"
#include "devices/virtio/block/io_engine.h"
#include "devices/virtio/device.h"

namespace franca::virtio {

class BlockSession;

// One per --disk: Block::create(config, "blkN"), handed to a transport, which
// calls activate()/reset() on the vmm-io loop. The destructor resets too, so
// destroy it before the EventLoop it was activated on.
class Block final : public VirtioDevice {
 public:
  static constexpr uint16_t kMaxQueues = 64;

  // Opens and locks the image; every problem is a usage error naming the path.
  static Result<std::unique_ptr<Block>> create(const BlockConfig& config, std::string id);
  ~Block() override;

  uint32_t device_type() const override;
  const std::string& id() const override { return id_; }
  uint64_t offered_features() const override { return offered_; }
  std::span<const FeatureName> feature_names() const override { return block_feature_names(); }
  uint16_t num_queues() const override { return config_.queues; }

  void read_config(uint64_t offset, std::span<uint8_t> data) override;

  Result<void> activate(DeviceContext ctx) override;
  void reset() override;
  std::vector<std::string> describe_queues() const override;

  // Capacity in 512-byte sectors and the engine in use ("io_uring" or "sync").
  uint64_t capacity() const { return image_.size / kSectorSize; }
  std::string_view io_engine_name() const { return engine_->name(); }

 private:
  Block(const BlockConfig& config, std::string id, Image image);

  BlockConfig config_;
  std::string id_;
  Image image_;
  uint64_t offered_ = 0;
  virtio_blk_config space_{};              // little-endian, fixed after create
  uint8_t serial_[VIRTIO_BLK_ID_BYTES]{};  // zero padded
  std::unique_ptr<IoEngine> engine_;
  std::unique_ptr<BlockSession> session_;
};

}  // namespace franca::virtio
