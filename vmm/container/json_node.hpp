#pragma once
// A JSON document's values with where each is ("process.user.uid"), so that every
// complaint names the path the user has to fix: config.json (oci_spec) and an OCI
// image's index, manifest and config (oci_image) are read through it.

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "vmm/common/error.hpp"

namespace berth::container::json_node {

// A JSON value and where it is in the document ("process.user.uid"), so that every
// complaint can name the path the user has to fix.
class Node {
public:
    Node(const nlohmann::json& value, std::string path) : value_(&value), path_(std::move(path)) {}

    const nlohmann::json& value() const { return *value_; }
    const std::string& path() const { return path_; }

    [[noreturn]] void fail(std::string_view what) const {
        throw bad_input(fmt::format("{}: {}", path_.empty() ? "(top level)" : path_, what));
    }
    Node expect_object() const {
        if (!value_->is_object()) {
            fail("expected an object");
        }
        return *this;
    }
    // The member `key`, when present and not null.
    std::optional<Node> member(std::string_view key) const {
        const auto found = value_->find(key);
        if (found == value_->end() || found->is_null()) {
            return std::nullopt;
        }
        return Node(*found, path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key));
    }
    Node required(std::string_view key) const {
        if (auto node = member(key)) {
            return *node;
        }
        Node(*value_, path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key))
            .fail("is missing");
    }
    Node element(std::size_t index) const {
        return Node((*value_)[index], fmt::format("{}[{}]", path_, index));
    }

    std::string string() const {
        if (!value_->is_string()) {
            fail("expected a string");
        }
        return value_->get<std::string>();
    }
    bool boolean() const {
        if (!value_->is_boolean()) {
            fail("expected true or false");
        }
        return value_->get<bool>();
    }
    std::int64_t int64() const {
        if (!value_->is_number_integer()) {
            fail("expected an integer");
        }
        if (value_->is_number_unsigned() &&
            value_->get<std::uint64_t>() >
                static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            fail("is out of range");
        }
        return value_->get<std::int64_t>();
    }
    std::uint64_t uint64() const {
        if (!value_->is_number_unsigned()) {
            fail("expected an integer of 0 or more");
        }
        return value_->get<std::uint64_t>();
    }
    std::uint32_t uint32() const {
        const std::uint64_t number = uint64();
        if (number > std::numeric_limits<std::uint32_t>::max()) {
            fail("expected an integer from 0 to 4294967295");
        }
        return static_cast<std::uint32_t>(number);
    }
    std::vector<std::string> strings(bool non_empty = false) const {
        const char* expected =
            non_empty ? "expected a non-empty array of strings" : "expected an array of strings";
        if (!value_->is_array() || (non_empty && value_->empty())) {
            fail(expected);
        }
        std::vector<std::string> result;
        for (const auto& item : *value_) {
            if (!item.is_string()) {
                fail(expected);
            }
            result.push_back(item.get<std::string>());
        }
        return result;
    }
    std::size_t array_size() const {
        if (!value_->is_array()) {
            fail("expected an array");
        }
        return value_->size();
    }

private:
    const nlohmann::json* value_;
    std::string path_;
};

// Parses `json_text`; malformed JSON is bad input "not valid JSON: parse error at line ...".
inline nlohmann::json parse_json(std::string_view json_text) {
    try {
        return nlohmann::json::parse(json_text);
    } catch (const nlohmann::json::parse_error& e) {
        // nlohmann's text: "[json.exception.parse_error.101] parse error at line 3, ...".
        std::string what = e.what();
        const auto start = what.find("] ");
        throw bad_input(fmt::format("not valid JSON: {}",
                                    start == std::string::npos ? what : what.substr(start + 2)));
    }
}

}  // namespace berth::container::json_node
