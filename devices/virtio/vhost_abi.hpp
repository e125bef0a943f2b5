#pragma once
// <linux/vhost.h> for C++: it pulls in <linux/virtio_ring.h>, whose legacy ring helpers
// (vring_init) are C that a C++ compiler refuses. Nothing here uses them.
#ifndef VIRTIO_RING_NO_LEGACY
#define VIRTIO_RING_NO_LEGACY
#endif
#include <linux/vhost.h>
