// Options shared by the model commands (check-models, download, models): where the caches are and how
// to reach the network. Each command adds them to its own subcommand.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "models/download.h"
#include "models/resolver.h"

namespace wst::cli {

struct ModelCliOptions {
  std::string models_dir;       // --models-dir; else $WHISPER_SPEEDTEST_MODELS; else XDG cache
  std::string whisper_cpp_dir;  // --whisper-cpp-dir; else $WHISPER_CPP_MODELS
  bool offline = false;         // --offline (or HF_HUB_OFFLINE=1)
  std::string hf_endpoint;      // --hf-endpoint; else $HF_ENDPOINT
  std::string openai_base_url;  // --openai-base-url; else $WHISPER_SPEEDTEST_OPENAI_URL

  void add_to(CLI::App* cmd, bool network) {
    cmd->add_option("--models-dir", models_dir, "project models directory (default $WHISPER_SPEEDTEST_MODELS or ~/.cache/whisper-speedtest)");
    cmd->add_option("--whisper-cpp-dir", whisper_cpp_dir, "a whisper.cpp models folder to search (default $WHISPER_CPP_MODELS)");
    if (!network) return;
    cmd->add_flag("--offline", offline, "never open a network connection (also HF_HUB_OFFLINE=1)");
    cmd->add_option("--hf-endpoint", hf_endpoint, "Hugging Face endpoint or mirror (default $HF_ENDPOINT or https://huggingface.co)");
    cmd->add_option("--openai-base-url", openai_base_url, "mirror of OpenAI's checkpoint CDN (default $WHISPER_SPEEDTEST_OPENAI_URL)");
  }
  models::CacheDirs dirs() const { return models::CacheDirs::from_env(models_dir, whisper_cpp_dir); }
  models::DownloadOptions download_options() const {
    auto o = models::DownloadOptions::from_env();
    o.offline = o.offline || offline;
    if (!hf_endpoint.empty()) o.hf_endpoint = hf_endpoint;
    if (!openai_base_url.empty()) o.openai_base_url = openai_base_url;
    return o;
  }
};

}  // namespace wst::cli
