// whisper-speedtest: entry point. Parses the command line, runs one subcommand, and turns any
// wst::Error into one line on stderr and exit status 1.
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "util/errors.h"

int main(int argc, char** argv) {
  CLI::App app{"whisper-speedtest: which Whisper implementation is fastest on this machine, and how accurate"};
  app.set_version_flag("--version", std::string("whisper-speedtest ") + WST_VERSION);
  app.require_subcommand(0, 1);
  wst::cli::add_transcribe_command(app);
  wst::cli::register_models(app);
  wst::cli::register_check_models(app);
  wst::cli::register_download(app);
  wst::cli::add_benchmark_command(app);
  wst::cli::add_list_command(app);
  wst::cli::add_report_command(app);
  try {
    std::vector<const char*> args = wst::cli::with_default_command(app, argc, argv);
    app.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const wst::Error& e) {
    std::fprintf(stderr, "whisper-speedtest: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "whisper-speedtest: error: %s\n", e.what());
    return 1;
  }
  if (app.get_subcommands().empty()) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  }
  return wst::cli::exit_code;
}
