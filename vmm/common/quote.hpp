#pragma once
// Text from the user or from an image, made safe to echo in berth's one-line messages.
// A value can hold anything: a newline would split the message in two (and could forge
// a second "berth: ..." line), a NUL would cut it short where what() is read as a C
// string, an escape sequence would drive the terminal, and bytes that are not UTF-8
// would garble it. Every message that repeats such a value passes it through quote();
// main passes the whole message through one_line() as the last guard.

#include <string>
#include <string_view>

namespace berth {

// `text` between single quotes, with C-style escapes for what may not be shown as is:
// \n \r \t, \\ and \' for backslash and quote, \xNN for every other control byte (C0,
// DEL and the C1 controls' bytes) and for each byte that is not part of valid UTF-8.
// Printable ASCII and valid UTF-8 stay as they are: quote("a\nb") is 'a\nb'.
std::string quote(std::string_view text);

// The same escapes without the quotes and leaving \ and ' alone: for a whole message,
// whose values are quoted already, so that it is one line of text whatever slipped in.
std::string one_line(std::string_view text);

}  // namespace berth
