// JSON for the benchmark's results (nlohmann::json adl conversions): written by --json, read back by
// `report`, and used for the child -> parent messages of the runner. Field names are documented in
// docs/BENCHMARK.md; reading tolerates missing optional fields so older files still load.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "bench/results.h"
#include "wst/implementation.h"

namespace wst {
void to_json(nlohmann::json& j, const ImplParams& p);
void from_json(const nlohmann::json& j, ImplParams& p);
void to_json(nlohmann::json& j, const ImplUsed& u);
void from_json(const nlohmann::json& j, ImplUsed& u);
}  // namespace wst

namespace wst::bench {
void to_json(nlohmann::json& j, const SystemInfo& s);
void from_json(const nlohmann::json& j, SystemInfo& s);
void to_json(nlohmann::json& j, const ImplResult& r);
void from_json(const nlohmann::json& j, ImplResult& r);
void to_json(nlohmann::json& j, const BenchResult& b);
void from_json(const nlohmann::json& j, BenchResult& b);

// Reads a results file written by --json; throws wst::Error naming the file and what is wrong.
BenchResult read_results_file(const std::string& path);
}  // namespace wst::bench
