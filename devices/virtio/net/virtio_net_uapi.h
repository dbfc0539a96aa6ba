// <linux/virtio_net.h> for C++: its virtio_net_ctrl_hdr has a member named
// `class`, a C++ keyword, so the header is included through here with that
// one name renamed (the struct is not used; ctrl_command.cc reads the two bytes).
#pragma once

#include <linux/if_ether.h>
#include <linux/types.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_types.h>

#define class class_
#include <linux/virtio_net.h>
#undef class
