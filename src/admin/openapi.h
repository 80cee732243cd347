// The admin API described as an OpenAPI 3.0 document, served at
// GET /v1/openapi.json. It names exactly the routes of request.h's routes(), with
// their request and response bodies and the bearer scheme; a test fails when
// the two drift apart.
#pragma once

#include <string_view>

namespace gh::admin {

std::string_view openapi_json();

}  // namespace gh::admin
