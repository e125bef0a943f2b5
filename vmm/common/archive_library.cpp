#include "vmm/common/archive_library.hpp"

#include "vmm/common/loaded_library.hpp"

namespace berth {

const ArchiveApi& archive_api(const char* feature) {
    // An initializer that throws leaves the table unset: the next call tries again.
    static const ArchiveApi api = [feature] {
        const LoadedLibrary library("libarchive.so.13", feature, "libarchive13");
        ArchiveApi loaded{};
        library.look_up("archive_write_new", loaded.write_new);
        library.look_up("archive_write_set_format_iso9660", loaded.set_format_iso9660);
        library.look_up("archive_write_set_option", loaded.set_option);
        library.look_up("archive_write_open_filename", loaded.open_filename);
        library.look_up("archive_write_header", loaded.write_header);
        library.look_up("archive_write_data", loaded.write_data);
        library.look_up("archive_write_close", loaded.close);
        library.look_up("archive_write_free", loaded.free);
        library.look_up("archive_read_new", loaded.read_new);
        library.look_up("archive_read_support_filter_gzip", loaded.read_support_filter_gzip);
        library.look_up("archive_read_support_filter_zstd", loaded.read_support_filter_zstd);
        library.look_up("archive_read_support_format_tar", loaded.read_support_format_tar);
        library.look_up("archive_read_open_fd", loaded.read_open_fd);
        library.look_up("archive_read_next_header", loaded.read_next_header);
        library.look_up("archive_read_data_skip", loaded.read_data_skip);
        library.look_up("archive_read_free", loaded.read_free);
        library.look_up("archive_filter_code", loaded.filter_code);
        library.look_up("archive_write_disk_new", loaded.write_disk_new);
        library.look_up("archive_write_disk_set_options", loaded.write_disk_set_options);
        library.look_up("archive_read_extract2", loaded.read_extract2);
        library.look_up("archive_error_string", loaded.error_string);
        library.look_up("archive_entry_new", loaded.entry_new);
        library.look_up("archive_entry_free", loaded.entry_free);
        library.look_up("archive_entry_pathname", loaded.entry_pathname);
        library.look_up("archive_entry_hardlink", loaded.entry_hardlink);
        library.look_up("archive_entry_symlink", loaded.entry_symlink);
        library.look_up("archive_entry_filetype", loaded.entry_filetype);
        library.look_up("archive_entry_set_pathname", loaded.entry_set_pathname);
        library.look_up("archive_entry_set_hardlink", loaded.entry_set_hardlink);
        library.look_up("archive_entry_set_size", loaded.entry_set_size);
        library.look_up("archive_entry_set_filetype", loaded.entry_set_filetype);
        library.look_up("archive_entry_set_perm", loaded.entry_set_perm);
        library.look_up("archive_entry_set_mtime", loaded.entry_set_mtime);
        library.look_up("archive_entry_xattr_reset", loaded.entry_xattr_reset);
        library.look_up("archive_entry_xattr_next", loaded.entry_xattr_next);
        library.look_up("archive_entry_xattr_clear", loaded.entry_xattr_clear);
        library.look_up("archive_entry_xattr_add_entry", loaded.entry_xattr_add_entry);
        return loaded;
    }();
    return api;
}

}  // namespace berth
