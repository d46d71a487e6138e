// Each subcommand lives in its own file and registers itself on the app here.
// A command's callback runs after parsing; it returns the process exit code through `exit_code`.
#pragma once
#include <CLI/CLI.hpp>

namespace wst::cli {

// Set by the chosen subcommand's callback.
inline int exit_code = 0;

void add_transcribe_command(CLI::App& app);
// Model management (issue #3): cmd_models.cpp, cmd_check_models.cpp, cmd_download.cpp.
void register_models(CLI::App& app);
void register_models_convert(CLI::App* models);  // `models convert`, called by register_models
void register_check_models(CLI::App& app);
void register_download(CLI::App& app);
void add_list_command(CLI::App& app);
void add_benchmark_command(CLI::App& app);
void add_report_command(CLI::App& app);

// argv with "benchmark" put in front of the arguments when no subcommand (and no --help/--version) is
// given, so that `whisper-speedtest -m DIR` runs the benchmark.
std::vector<const char*> with_default_command(const CLI::App& app, int argc, char** argv);


}  // namespace wst::cli
