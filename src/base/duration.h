// Durations as the configuration writes them: "30s", "15m", "1h", "90d", "250ms".
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace gh {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace gh
