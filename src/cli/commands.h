// Each subcommand lives in its own file and registers itself on the app here.
// A command's callback runs after parsing; it returns the process exit code through `exit_code`.
#pragma once
#include <CLI/CLI.hpp>

namespace wst::cli {

// Set by the chosen subcommand's callback.
inline int exit_code = 0;

void add_transcribe_command(CLI::App& app);


}  // namespace wst::cli
