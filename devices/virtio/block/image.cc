// Opening, checking and OFD-locking a raw image file or block device.
#include "devices/virtio/block/image.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace franca::virtio {
namespace {

std::unexpected<Error> image_error(const std::string& path, const std::string& what) {
  return usage_error(fmt::format("--disk path={}: {}", path, what));
}

std::string open_failure(int err, bool readonly) {
  switch (err) {
    case ENOENT:
      return "no such file";
    case EISDIR:
      return "is a directory, expected a raw image file or block device";
    case EACCES:
    case EPERM:
    case EROFS:
      return readonly ? fmt::format("cannot open: {}", std::strerror(err))
                      : fmt::format("cannot open for writing: {} (add readonly=on?)", std::strerror(err));
    default:
      return fmt::format("cannot open: {}", std::strerror(err));
  }
}

Result<uint64_t> image_size(const std::string& path, int fd, const struct stat& st) {
  if (S_ISREG(st.st_mode)) return static_cast<uint64_t>(st.st_size);
  uint64_t bytes = 0;
  if (ioctl(fd, BLKGETSIZE64, &bytes) < 0) {
    return image_error(path, fmt::format("cannot read the block device size: {}", std::strerror(errno)));
  }
  return bytes;
}

// Whole-file OFD lock: conflicts with any other open file description, so two
// franca processes (or two disks of one) cannot both write the image.
Result<void> lock_image(const std::string& path, int fd, bool readonly) {
  struct flock lock {};
  lock.l_type = readonly ? F_RDLCK : F_WRLCK;
  lock.l_whence = SEEK_SET;
  if (fcntl(fd, F_OFD_SETLK, &lock) == 0) return {};
  if (errno == EAGAIN || errno == EACCES) {
    return image_error(path, readonly ? "locked for writing by another process (another franca?)"
                                      : "locked by another process (another franca using it?)");
  }
  spdlog::warn("--disk path={}: cannot lock the image ({}); continuing without a lock", path, std::strerror(errno));
  return {};
}

}  // namespace

Result<Image> open_image(const std::string& path, bool readonly) {
  if (path.empty()) return usage_error("--disk: path= is required");
  Fd fd(::open(path.c_str(), (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC));
  if (!fd.valid()) return image_error(path, open_failure(errno, readonly));
  struct stat st {};
  if (fstat(fd.get(), &st) < 0) return image_error(path, fmt::format("cannot stat: {}", std::strerror(errno)));
  if (S_ISDIR(st.st_mode)) return image_error(path, open_failure(EISDIR, readonly));
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
    return image_error(path, "not a regular file or block device");
  }
  auto size = image_size(path, fd.get(), st);
  if (!size) return std::unexpected(size.error());
  if (*size == 0) return image_error(path, "the image is empty");
  if (*size % kSectorSize != 0) {
    return image_error(path, fmt::format("size {} bytes is not a multiple of {}", *size, kSectorSize));
  }
  if (auto locked = lock_image(path, fd.get(), readonly); !locked) return std::unexpected(locked.error());
  return Image{std::move(fd), *size, S_ISBLK(st.st_mode)};
}

}  // namespace franca::virtio
