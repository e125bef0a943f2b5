#pragma once
// libarchive, loaded with dlopen the first time a feature needs it (loaded_library.hpp
// says why): the ISO 9660 writer of cloud-init seeds (vmm/boot) and the tar reader and
// disk writer that unpack OCI image layers (vmm/container). One table of the functions
// berth calls, for both.

#include <archive.h>
#include <archive_entry.h>

namespace berth {

struct ArchiveApi {
    // Writing an archive (cloud-init seeds).
    decltype(&::archive_write_new) write_new;
    decltype(&::archive_write_set_format_iso9660) set_format_iso9660;
    decltype(&::archive_write_set_option) set_option;
    decltype(&::archive_write_open_filename) open_filename;
    decltype(&::archive_write_header) write_header;
    decltype(&::archive_write_data) write_data;
    decltype(&::archive_write_close) close;
    decltype(&::archive_write_free) free;
    // Reading one (image layers: tar, gzip'd or zstd'd) ...
    decltype(&::archive_read_new) read_new;
    decltype(&::archive_read_support_filter_gzip) read_support_filter_gzip;
    decltype(&::archive_read_support_filter_zstd) read_support_filter_zstd;
    decltype(&::archive_read_support_format_tar) read_support_format_tar;
    decltype(&::archive_read_open_fd) read_open_fd;
    decltype(&::archive_read_next_header) read_next_header;
    decltype(&::archive_read_data_skip) read_data_skip;
    decltype(&::archive_read_free) read_free;
    decltype(&::archive_filter_code) filter_code;
    // ... onto the disk.
    decltype(&::archive_write_disk_new) write_disk_new;
    decltype(&::archive_write_disk_set_options) write_disk_set_options;
    decltype(&::archive_read_extract2) read_extract2;
    decltype(&::archive_error_string) error_string;
    decltype(&::archive_entry_new) entry_new;
    decltype(&::archive_entry_free) entry_free;
    decltype(&::archive_entry_pathname) entry_pathname;
    decltype(&::archive_entry_hardlink) entry_hardlink;
    decltype(&::archive_entry_symlink) entry_symlink;
    decltype(&::archive_entry_filetype) entry_filetype;
    decltype(&::archive_entry_set_pathname) entry_set_pathname;
    decltype(&::archive_entry_set_hardlink) entry_set_hardlink;
    decltype(&::archive_entry_set_size) entry_set_size;
    decltype(&::archive_entry_set_filetype) entry_set_filetype;
    decltype(&::archive_entry_set_perm) entry_set_perm;
    decltype(&::archive_entry_set_mtime) entry_set_mtime;
    decltype(&::archive_entry_xattr_reset) entry_xattr_reset;
    decltype(&::archive_entry_xattr_next) entry_xattr_next;
    decltype(&::archive_entry_xattr_clear) entry_xattr_clear;
    decltype(&::archive_entry_xattr_add_entry) entry_xattr_add_entry;
};

// The table, loaded on the first call and kept. When libarchive cannot be loaded, an
// Error that `feature` ("a cloud-init seed") needs it and which Debian package to install.
const ArchiveApi& archive_api(const char* feature);

}  // namespace berth
