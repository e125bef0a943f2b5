// common/quote: what berth echoes from the user or an image stays one line of text.

#include <catch2/catch.hpp>

#include <string>

#include "vmm/common/quote.hpp"

using berth::one_line;
using berth::quote;

TEST_CASE("quote keeps printable text and UTF-8, escapes quotes and backslashes") {
    CHECK(quote("rootfs") == "'rootfs'");
    CHECK(quote("") == "''");
    CHECK(quote("it's") == "'it\\'s'");
    CHECK(quote("a\\b") == "'a\\\\b'");
    CHECK(quote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") ==
          "'caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80'");
}

TEST_CASE("quote escapes control characters, so a value cannot add a line") {
    CHECK(quote("a\nb") == "'a\\nb'");
    CHECK(quote("a\r\tb") == "'a\\r\\tb'");
    CHECK(quote(std::string("a\0b", 3)) == "'a\\x00b'");
    CHECK(quote("\x1b[31mred") == "'\\x1b[31mred'");
    CHECK(quote("\x7f") == "'\\x7f'");
    CHECK(quote("x\nberth: forged") == "'x\\nberth: forged'");
}

TEST_CASE("quote escapes each byte that is not valid UTF-8, and the C1 controls") {
    CHECK(quote("\xff") == "'\\xff'");
    CHECK(quote("\xc3") == "'\\xc3'");                             // cut short
    CHECK(quote("\xc0\xaf") == "'\\xc0\\xaf'");                    // overlong '/'
    CHECK(quote("\xed\xa0\x80") == "'\\xed\\xa0\\x80'");           // a surrogate
    CHECK(quote("\xf4\x90\x80\x80") == "'\\xf4\\x90\\x80\\x80'");  // above U+10FFFF
    CHECK(quote("\xc2\x85") == "'\\xc2\\x85'");                    // U+0085, next line
}

TEST_CASE("one_line escapes controls in a whole message but leaves quotes alone") {
    CHECK(one_line("--name 'a\\nb' is bad") == "--name 'a\\nb' is bad");
    CHECK(one_line("two\nlines") == "two\\nlines");
    CHECK(one_line(std::string("cut\0short", 9)) == "cut\\x00short");
}
