/* A virtio-pci device as a driver sees it (virtio 1.2, 4.1): the vendor capabilities
   that say where the structures are in BAR 0, the common configuration, the doorbells. */
#include "hostile.h"

#define CAP_VENDOR 0x09
#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR 3
#define CAP_DEVICE 4

static const char* device_name(uint16_t id) {
    switch (id) {
        case 0x1041:
            return "virtio-net";
        case 0x1042:
            return "virtio-blk";
        case 0x1043:
            return "virtio-console";
        case 0x1044:
            return "virtio-rng";
        default:
            return "virtio-other";
    }
}

int virtio_probe(struct virtio* device, const struct pci_function* function) {
    if (function->vendor != 0x1af4 || function->id < 0x1040) {
        return 0;
    }
    fill(device, 0, sizeof *device);
    device->pci = *function;
    device->name = device_name(function->id);
    const uint32_t a = function->address;
    device->bar = cfg_read(a, 0x10, 4) & ~0xfu;
    int hops = 0;
    for (uint32_t at = cfg_read(a, 0x34, 1) & 0xfc; at != 0 && hops < 48;
         at = cfg_read(a, at + 1, 1) & 0xfc, ++hops) {
        if (cfg_read(a, at, 1) != CAP_VENDOR || cfg_read(a, at + 4, 1) != 0) {
            continue;
        }
        const uint32_t where = device->bar + cfg_read(a, at + 8, 4);
        switch (cfg_read(a, at + 3, 1)) {
            case CAP_COMMON:
                device->common = where;
                break;
            case CAP_NOTIFY:
                device->notify = where;
                device->notify_multiplier = cfg_read(a, at + 16, 4);
                break;
            case CAP_ISR:
                device->isr = where;
                break;
            case CAP_DEVICE:
                device->device_config = where;
                device->device_config_length = cfg_read(a, at + 12, 4);
                break;
        }
    }
    if (device->common == 0 || device->notify == 0) {
        print("hostile: FAIL ");
        print(device->name);
        print(" has no common or notify capability\n");
        return 0;
    }
    device->queues = read16(device->common + COMMON_NUM_QUEUES);
    /* The network and console devices pop their receive queue (0) only when the host
       has something to give; their transmit queue (1) is served whenever it is kicked.
       Block and entropy devices have one queue. */
    device->test_queue = device->queues > 1 ? 1 : 0;
    write32(device->common + COMMON_DEVICE_FEATURE_SELECT, 0);
    device->offered_low = read32(device->common + COMMON_DEVICE_FEATURE);
    write32(device->common + COMMON_DEVICE_FEATURE_SELECT, 1);
    device->offered_high = read32(device->common + COMMON_DEVICE_FEATURE);
    return 1;
}

uint8_t virtio_status(const struct virtio* device) {
    return read8(device->common + COMMON_STATUS);
}

void virtio_set_status(const struct virtio* device, uint8_t status) {
    write8(device->common + COMMON_STATUS, status);
}

int virtio_reset(const struct virtio* device) {
    virtio_set_status(device, 0);
    /* virtio 1.2, 4.1.4.3.2: the driver waits for 0 to read back. */
    const uint32_t start = now_ms();
    while (virtio_status(device) != 0) {
        if (now_ms() - start > 5000) {
            return 0;
        }
    }
    return 1;
}

uint8_t virtio_negotiate(const struct virtio* device, uint32_t low, uint32_t high) {
    virtio_set_status(device, STATUS_ACKNOWLEDGE);
    virtio_set_status(device, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    write32(device->common + COMMON_DRIVER_FEATURE_SELECT, 0);
    write32(device->common + COMMON_DRIVER_FEATURE, low);
    write32(device->common + COMMON_DRIVER_FEATURE_SELECT, 1);
    write32(device->common + COMMON_DRIVER_FEATURE, high);
    virtio_set_status(device, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
    return virtio_status(device);
}

void virtio_queue_setup(const struct virtio* device, uint16_t queue, uint16_t size,
                        uint64_t descriptors, uint64_t driver_area, uint64_t device_area) {
    const uint32_t c = device->common;
    write16(c + COMMON_QUEUE_SELECT, queue);
    write16(c + COMMON_QUEUE_SIZE, size);
    write32(c + COMMON_QUEUE_DESC, (uint32_t)descriptors);
    write32(c + COMMON_QUEUE_DESC + 4, (uint32_t)(descriptors >> 32));
    write32(c + COMMON_QUEUE_DRIVER, (uint32_t)driver_area);
    write32(c + COMMON_QUEUE_DRIVER + 4, (uint32_t)(driver_area >> 32));
    write32(c + COMMON_QUEUE_DEVICE, (uint32_t)device_area);
    write32(c + COMMON_QUEUE_DEVICE + 4, (uint32_t)(device_area >> 32));
}

void virtio_queue_enable(const struct virtio* device, uint16_t queue) {
    write16(device->common + COMMON_QUEUE_SELECT, queue);
    write16(device->common + COMMON_QUEUE_ENABLE, 1);
}

void virtio_kick(const struct virtio* device, uint16_t queue) {
    write16(device->common + COMMON_QUEUE_SELECT, queue);
    const uint16_t offset = read16(device->common + COMMON_QUEUE_NOTIFY_OFF);
    barrier();
    write16(device->notify + offset * device->notify_multiplier, queue);
}
