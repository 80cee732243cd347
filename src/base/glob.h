// Shell-style globs as the configuration writes them: `*` any run of
// characters (dots included), `?` one character; exact otherwise.
#pragma once

#include <string_view>

namespace gh {

bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace gh
