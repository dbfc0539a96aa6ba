// virtio-blk device model: features, config space (virtio 1.x §5.2.3-§5.2.4),
// image set-up and activation; the data path lives in session.cc.
#include "devices/virtio/block/block.h"

#include <endian.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#define VIRTIO_RING_NO_LEGACY  // the legacy vring_init() helper is not valid C++
#include <linux/virtio_ring.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "devices/virtio/block/session.h"

namespace franca::virtio {
namespace {

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }

constexpr std::array<FeatureName, 9> kBlockNames = {{
    {"size_max", VIRTIO_BLK_F_SIZE_MAX},
    {"seg_max", VIRTIO_BLK_F_SEG_MAX},
    {"ro", VIRTIO_BLK_F_RO},
    {"blk_size", VIRTIO_BLK_F_BLK_SIZE},
    {"flush", VIRTIO_BLK_F_FLUSH},
    {"topology", VIRTIO_BLK_F_TOPOLOGY},
    {"mq", VIRTIO_BLK_F_MQ},
    {"discard", VIRTIO_BLK_F_DISCARD},
    {"write_zeroes", VIRTIO_BLK_F_WRITE_ZEROES},
}};

constexpr uint32_t kSizeMax = 4u << 20;                // bytes per segment; any value >= a page works
constexpr uint32_t kMaxDiscardSectors = 1u << 22;      // 2 GiB: one fallocate
constexpr uint32_t kMaxWriteZeroesSectors = 1u << 16;  // 32 MiB: bounds the written-zeros fallback
constexpr uint32_t kDiscardAlignment = 8;              // sectors: 4 KiB, the host page / fs block
constexpr uint8_t kPhysicalBlockExp = 3;               // 4 KiB physical blocks of 512-byte sectors
constexpr uint16_t kMinIoSize = 8;                     // logical blocks

uint64_t features_for(const BlockConfig& config) {
  uint64_t f = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_RING_PACKED) | bit(VIRTIO_RING_F_EVENT_IDX) |
               bit(VIRTIO_RING_F_INDIRECT_DESC) | bit(VIRTIO_BLK_F_FLUSH) | bit(VIRTIO_BLK_F_BLK_SIZE) |
               bit(VIRTIO_BLK_F_SEG_MAX) | bit(VIRTIO_BLK_F_SIZE_MAX) | bit(VIRTIO_BLK_F_TOPOLOGY) |
               bit(VIRTIO_BLK_F_MQ);
  f |= config.readonly ? bit(VIRTIO_BLK_F_RO) : bit(VIRTIO_BLK_F_DISCARD) | bit(VIRTIO_BLK_F_WRITE_ZEROES);
  return f & ~config.feature_mask;
}

virtio_blk_config config_space(uint64_t capacity, uint16_t queues, uint16_t queue_size) {
  virtio_blk_config c{};
  c.capacity = htole64(capacity);
  c.size_max = htole32(kSizeMax);
  c.seg_max = htole32(queue_size - 2u);  // header and status take two descriptors
  c.blk_size = htole32(kSectorSize);
  c.physical_block_exp = kPhysicalBlockExp;
  c.min_io_size = htole16(kMinIoSize);
  c.num_queues = htole16(queues);
  c.max_discard_sectors = htole32(kMaxDiscardSectors);
  c.max_discard_seg = htole32(1);
  c.discard_sector_alignment = htole32(kDiscardAlignment);
  c.max_write_zeroes_sectors = htole32(kMaxWriteZeroesSectors);
  c.max_write_zeroes_seg = htole32(1);
  c.write_zeroes_may_unmap = 1;
  return c;
}

std::unique_ptr<IoEngine> choose_engine(const BlockConfig& config, int fd, unsigned entries) {
  const char* env = std::getenv("FRANCA_BLK_NO_URING");
  if (config.sync_io || (env && std::strcmp(env, "1") == 0)) return make_sync_engine(fd);
  std::string why;
  if (auto engine = make_uring_engine(fd, entries, why)) return engine;
  static std::once_flag logged;
  std::call_once(logged, [&] { spdlog::info("virtio-blk: io_uring unavailable ({}); using synchronous I/O", why); });
  return make_sync_engine(fd);
}

}  // namespace

std::span<const FeatureName> block_feature_names() { return kBlockNames; }

Result<std::unique_ptr<Block>> Block::create(const BlockConfig& config, std::string id) {
  if (config.queues == 0 || config.queues > kMaxQueues) {
    return usage_error(
        fmt::format("--disk path={}: queues={}: must be between 1 and {}", config.path, config.queues, kMaxQueues));
  }
  if (config.serial.size() > VIRTIO_BLK_ID_BYTES) {
    return usage_error(fmt::format("--disk path={}: serial='{}' is longer than {} bytes", config.path, config.serial,
                                   VIRTIO_BLK_ID_BYTES));
  }
  auto image = open_image(config.path, config.readonly);
  if (!image) return std::unexpected(image.error());
  return std::unique_ptr<Block>(new Block(config, std::move(id), std::move(*image)));
}

Block::Block(const BlockConfig& config, std::string id, Image image)
    : config_(config), id_(std::move(id)), image_(std::move(image)), offered_(features_for(config)) {
  space_ = config_space(capacity(), config.queues, max_queue_size());
  std::memcpy(serial_, config.serial.data(), config.serial.size());
  engine_ = choose_engine(config, image_.fd.get(), unsigned{config.queues} * max_queue_size());
  spdlog::debug("{}: {} ({} sectors{}), {} I/O", id_, config.path, capacity(), config.readonly ? ", read-only" : "",
                engine_->name());
}

Block::~Block() { reset(); }

uint32_t Block::device_type() const { return VIRTIO_ID_BLOCK; }

void Block::read_config(uint64_t offset, std::span<uint8_t> data) { read_config_bytes(space_, offset, data); }

Result<void> Block::activate(DeviceContext ctx) {
  reset();
  const uint64_t f = ctx.features;
  BlockBackend backend{
      .id = id_,
      .engine = engine_.get(),
      .counters = &counters_,
      .limits = {.capacity = capacity(),
                 .readonly = config_.readonly,
                 .discard = (f & bit(VIRTIO_BLK_F_DISCARD)) != 0,
                 .write_zeroes = (f & bit(VIRTIO_BLK_F_WRITE_ZEROES)) != 0,
                 .max_discard_sectors = kMaxDiscardSectors,
                 .max_write_zeroes_sectors = kMaxWriteZeroesSectors},
      .serial = serial_,
      // Without FLUSH the driver assumes write-through: each write is durable when acknowledged.
      .write_flags = (f & bit(VIRTIO_BLK_F_FLUSH)) ? 0 : RWF_DSYNC,
  };
  auto session = BlockSession::start(std::move(ctx), backend);
  if (!session) return std::unexpected(session.error());
  session_ = std::move(*session);
  return {};
}

void Block::reset() {
  if (!session_) return;
  session_->stop();
  session_.reset();
}

std::vector<std::string> Block::describe_queues() const {
  return session_ ? session_->describe_queues() : std::vector<std::string>{};
}

}  // namespace franca::virtio
