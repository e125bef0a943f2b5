#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
// meson reads TAP (`-r tap`); Catch2 2.x ships that reporter as an extra header.
#include <catch2/catch_reporter_tap.hpp>
