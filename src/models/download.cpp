// libcurl downloads with resume, verification, locking and retries; see download.h.
#include "models/download.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>

#include "models/hf_cache.h"
#include "util/errors.h"
#include "util/file_lock.h"
#include "util/paths.h"
#include "util/sha256.h"

namespace wst::models {

namespace fs = std::filesystem;

namespace {

std::string env_str(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

bool env_truthy(const char* name) {
  std::string v = env_str(name);
  for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return v == "1" || v == "true" || v == "yes" || v == "on";
}

std::string trim_slash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

void init_curl_once() {
  static const bool ok = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
  if (!ok) throw Error("libcurl: global initialisation failed");
}

// An error that is worth another attempt (network hiccup, stall, 5xx).
struct Transient {
  std::string reason;
};

struct Response {
  long status = 0;
  std::map<std::string, std::string> first;  // lower-case header name -> first value seen over redirects
  uint64_t content_length = 0;
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  std::string line(data, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string key = line.substr(0, colon);
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string val = line.substr(colon + 1);
    while (!val.empty() && (val.front() == ' ' || val.front() == '\t')) val.erase(0, 1);
    while (!val.empty() && (val.back() == '\r' || val.back() == '\n' || val.back() == ' ')) val.pop_back();
    r->first.emplace(key, val);
  }
  return size * n;
}

std::string http_reason(long status, const std::string& url, bool hub) {
  switch (status) {
    case 401: return fmt::format("HTTP 401 Unauthorized for {}{}", url, hub ? " (set HF_TOKEN to a valid token)" : "");
    case 403: return fmt::format("HTTP 403 Forbidden for {}{}", url, hub ? " (gated or private repo: accept its terms on the hub and set HF_TOKEN)" : "");
    case 404: return fmt::format("HTTP 404 Not Found: {}", url);
    default: return fmt::format("HTTP {} for {}", status, url);
  }
}

bool transient_status(long s) { return s == 408 || s == 429 || s >= 500; }

class Curl {
 public:
  Curl() {
    init_curl_once();
    h_ = curl_easy_init();
    if (!h_) throw Error("libcurl: cannot create a handle");
  }
  ~Curl() {
    curl_easy_cleanup(h_);
    if (headers_) curl_slist_free_all(headers_);
  }
  CURL* get() { return h_; }
  void common(const std::string& url, const DownloadOptions& o, const std::string& auth) {
    curl_easy_setopt(h_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h_, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h_, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(h_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h_, CURLOPT_CONNECTTIMEOUT, o.connect_timeout_s);
    curl_easy_setopt(h_, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h_, CURLOPT_LOW_SPEED_TIME, o.stall_timeout_s);
    curl_easy_setopt(h_, CURLOPT_USERAGENT, "whisper-speedtest");
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h_, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    if (!auth.empty()) {
      // A custom Authorization header is not sent on to another host after a redirect (curl >= 7.58),
      // so the token stays with the hub and never reaches its CDN.
      headers_ = curl_slist_append(headers_, ("Authorization: Bearer " + auth).c_str());
      curl_easy_setopt(h_, CURLOPT_HTTPHEADER, headers_);
    }
  }

 private:
  CURL* h_ = nullptr;
  curl_slist* headers_ = nullptr;
};

// HEAD: status and headers (first value of each over the redirect chain).
Response head(const std::string& url, const DownloadOptions& o, const std::string& auth) {
  Curl c;
  Response r;
  c.common(url, o, auth);
  curl_easy_setopt(c.get(), CURLOPT_NOBODY, 1L);
  curl_easy_setopt(c.get(), CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c.get(), CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(c.get(), CURLOPT_TIMEOUT, o.stall_timeout_s + o.connect_timeout_s);
  CURLcode rc = curl_easy_perform(c.get());
  if (rc != CURLE_OK) throw Transient{fmt::format("{}: {}", url, curl_easy_strerror(rc))};
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &r.status);
  curl_off_t len = -1;
  curl_easy_getinfo(c.get(), CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
  if (len > 0) r.content_length = static_cast<uint64_t>(len);
  return r;
}

struct Sink {
  FILE* f = nullptr;
  CURL* h = nullptr;
  uint64_t resume_from = 0;
  bool checked = false;
  bool restarted = false;
  bool write_failed = false;
  int write_errno = 0;
  uint64_t written = 0;
  // progress
  bool progress = false;
  std::string label;
  std::chrono::steady_clock::time_point t0, last;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* s = static_cast<Sink*>(user);
  if (!s->checked) {
    s->checked = true;
    long status = 0;
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 300) return size * n;  // error body: not ours to keep; status handled after perform
    if (s->resume_from > 0 && status == 200) {
      // The server ignored Range and sends the whole file: start over.
      if (::ftruncate(::fileno(s->f), 0) != 0 || std::fseek(s->f, 0, SEEK_SET) != 0) {
        s->write_failed = true;
        s->write_errno = errno;
        return 0;
      }
      s->resume_from = 0;
      s->restarted = true;
    }
  }
  long status = 0;
  curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 300) return size * n;
  size_t w = std::fwrite(data, size, n, s->f);
  if (w != n) {
    s->write_failed = true;
    s->write_errno = errno;
    return 0;
  }
  s->written += size * n;
  return size * n;
}

int on_progress(void* user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t, curl_off_t) {
  auto* s = static_cast<Sink*>(user);
  if (!s->progress) return 0;
  auto now = std::chrono::steady_clock::now();
  if (now - s->last < std::chrono::milliseconds(200) && !(dltotal > 0 && dlnow == dltotal)) return 0;
  s->last = now;
  double secs = std::chrono::duration<double>(now - s->t0).count();
  double speed = secs > 0 ? static_cast<double>(dlnow) / secs : 0;
  uint64_t total = dltotal > 0 ? static_cast<uint64_t>(dltotal) + s->resume_from : 0;
  uint64_t have = static_cast<uint64_t>(dlnow) + s->resume_from;
  std::string eta = "--";
  if (total > 0 && speed > 0) eta = fmt::format("{:.0f}s", static_cast<double>(total - have) / speed);
  std::string pct = total > 0 ? fmt::format("{:3.0f}%", 100.0 * static_cast<double>(have) / static_cast<double>(total)) : "   ";
  std::fprintf(stderr, "\r%s %s %s / %s  %s/s  ETA %s   ", s->label.c_str(), pct.c_str(), format_bytes(have).c_str(),
               total ? format_bytes(total).c_str() : "?", format_bytes(static_cast<uint64_t>(speed)).c_str(), eta.c_str());
  return 0;
}

void check_free_space(const fs::path& dir, uint64_t need, const std::string& label) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return;
  uint64_t free_bytes = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  if (free_bytes < need)
    throw Error(fmt::format("{}: not enough disk space in {}: need {}, {} free", label, dir.string(), format_bytes(need),
                            format_bytes(free_bytes)));
}

// What a downloaded file must be. Each value comes from the catalog when it has one, else (hub files) from
// the hub's answer to HEAD, as huggingface_hub takes them: the size from X-Linked-Size or Content-Length, and
// the ETag (X-Linked-Etag before ETag), which is the SHA-256 of an LFS file and git's blob SHA-1 of a file
// stored in git.
struct Expect {
  std::optional<uint64_t> size_bytes;
  std::optional<std::string> sha256, sha1, git_sha1;
  std::string size_from = "the catalog", sha256_from = "the catalog";  // named in a mismatch
};

// GETs `url` into `part`, resuming what is there, retrying transient errors. Returns when the server
// has sent the whole body. Throws wst::Error for permanent failures.
void fetch(const std::string& url, const fs::path& part, const Expect& expect, const DownloadOptions& o,
           const std::string& auth, const std::string& label, bool hub) {
  std::string last;
  for (int attempt = 0; attempt <= o.n_retries; ++attempt) {
    if (attempt > 0) {
      long ms = std::min<long>(30000, static_cast<long>(o.backoff_ms) << std::min(attempt - 1, 15));
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
    std::error_code ec;
    uint64_t have = fs::exists(part, ec) ? fs::file_size(part, ec) : 0;
    if (expect.size_bytes && have == *expect.size_bytes && have > 0) return;  // already all there
    if (expect.size_bytes && have > *expect.size_bytes) {
      fs::resize_file(part, 0, ec);
      have = 0;
    }
    if (expect.size_bytes) check_free_space(part.parent_path(), *expect.size_bytes - have, label);
    FILE* f = std::fopen(part.c_str(), "ab");
    if (!f) throw Error(fmt::format("{}: cannot write {}: {}", label, part.string(), std::strerror(errno)));
    Curl c;
    Sink s;
    s.f = f;
    s.h = c.get();
    s.resume_from = have;
    s.progress = o.progress;
    s.label = label;
    s.t0 = s.last = std::chrono::steady_clock::now();
    c.common(url, o, auth);
    std::string range = fmt::format("{}-", have);
    if (have > 0) curl_easy_setopt(c.get(), CURLOPT_RANGE, range.c_str());
    curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c.get(), CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c.get(), CURLOPT_XFERINFODATA, &s);
    curl_easy_setopt(c.get(), CURLOPT_NOPROGRESS, o.progress ? 0L : 1L);
    CURLcode rc = curl_easy_perform(c.get());
    long status = 0;
    curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
    bool flushed = std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
    int flush_errno = errno;
    std::fclose(f);
    if (o.progress) std::fputc('\n', stderr);
    if (s.write_failed || !flushed) {
      int e = s.write_failed ? s.write_errno : flush_errno;
      // The partial file is a prefix of the download (stdio writes in order): it stays under its .incomplete
      // name, never under the final one, and the next run resumes from it with Range once there is room.
      if (e == ENOSPC || e == EDQUOT)
        throw Error(fmt::format("{}: disk full after {} bytes in {} (kept there; free space and run again to resume)",
                                label, fs::file_size(part, ec), part.string()));
      throw Error(fmt::format("{}: cannot write {}: {}", label, part.string(), std::strerror(e)));
    }
    if (status == 416 && have > 0) {
      // Range not satisfiable: the partial file is not a prefix the server knows. Start over.
      fs::resize_file(part, 0, ec);
      last = "server refused to resume (HTTP 416)";
      continue;
    }
    if (status >= 400) {
      if (transient_status(status)) {
        last = http_reason(status, url, hub);
        continue;
      }
      throw Error(fmt::format("{}: {}", label, http_reason(status, url, hub)));
    }
    if (rc == CURLE_OK) return;
    if (rc == CURLE_OPERATION_TIMEDOUT)
      last = fmt::format("timed out: no data from {} for {} s", url, o.stall_timeout_s);
    else if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT)
      throw Error(fmt::format("{}: {}: {}", label, url, curl_easy_strerror(rc)));
    else
      last = fmt::format("{}: {}", url, curl_easy_strerror(rc));
  }
  throw Error(fmt::format("{}: download failed after {} attempts: {}", label, o.n_retries + 1, last));
}

// Size and digest of a finished partial file; deletes it and throws when it does not match.
void verify_or_discard(const fs::path& part, const Expect& e, const std::string& label) {
  std::error_code ec;
  uint64_t size = fs::file_size(part, ec);
  auto fail = [&](const std::string& why) {
    fs::remove(part, ec);
    throw Error(fmt::format("{}: {}; the download was discarded", label, why));
  };
  if (e.size_bytes && size != *e.size_bytes)
    fail(fmt::format("size {} bytes, expected {} ({})", size, *e.size_bytes, e.size_from));
  if (e.sha256) {
    std::string got = file_digest(part, DigestKind::kSha256);
    if (got != *e.sha256) fail(fmt::format("checksum mismatch: SHA-256 {}, expected {} ({})", got, *e.sha256, e.sha256_from));
  } else if (e.sha1) {
    std::string got = file_digest(part, DigestKind::kSha1);
    if (got != *e.sha1) fail(fmt::format("checksum mismatch: SHA-1 {}, expected {} (the catalog)", got, *e.sha1));
  } else if (e.git_sha1) {
    std::string got = file_digest(part, DigestKind::kGitBlobSha1);
    if (got != *e.git_sha1)
      fail(fmt::format("checksum mismatch: git blob SHA-1 {}, expected {} (the hub's ETag)", got, *e.git_sha1));
  }
}

void rename_into_place(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::rename(from, to, ec);  // same directory, so atomic
  if (ec) throw Error(fmt::format("{}: cannot move into place: {}", to.string(), ec.message()));
}

Expect expect_of(const FileSpec& spec) {
  Expect e;
  e.size_bytes = spec.size_bytes;
  e.sha256 = spec.sha256;
  e.sha1 = spec.sha1;
  return e;
}

std::string offline_message(const Artifact& art) {
  return fmt::format("{} ({}): not found locally and offline mode is on (--offline or HF_HUB_OFFLINE=1); "
                     "nothing was downloaded",
                     art.model, format_id(art.format));
}

void download_openai(const PlannedFile& pf, const Artifact& art, const DownloadOptions& o) {
  const fs::path dest = pf.final_path(0);
  const std::string label = fmt::format("{} ({})", art.model, pf.names[0]);
  fs::create_directories(pf.dir);
  FileLock lock(pf.dir / ".locks" / (pf.names[0] + ".lock"));
  Expect e = expect_of(*pf.spec);
  std::error_code ec;
  if (fs::exists(dest, ec)) {
    // Another process may have finished it while we waited for the lock.
    if (!e.sha256 || file_digest(dest, DigestKind::kSha256) == *e.sha256) return;
  }
  fs::path part = dest;
  part += ".incomplete";
  fetch(pf.urls[0], part, e, o, "", label, false);
  verify_or_discard(part, e, label);
  rename_into_place(part, dest);
}

void download_hub_file(const PlannedFile& pf, const Artifact& art, const DownloadOptions& o, bool recheck) {
  std::string last_404;
  for (size_t i = 0; i < pf.urls.size(); ++i) {
    const std::string& url = pf.urls[i];
    const std::string label = fmt::format("{} ({} {})", art.model, art.repo, pf.names[i]);
    Response r;
    std::string why;
    for (int attempt = 0;; ++attempt) {
      try {
        r = head(url, o, o.hf_token);
        if (!transient_status(r.status)) break;
        why = http_reason(r.status, url, true);
      } catch (const Transient& t) {
        why = t.reason;
      }
      if (attempt >= o.n_retries)
        throw Error(fmt::format("{}: download failed after {} attempts: {}", label, o.n_retries + 1, why));
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::min<long>(30000, static_cast<long>(o.backoff_ms) << std::min(attempt, 15))));
    }
    if (r.status == 404) {
      last_404 = http_reason(404, url, true);
      continue;  // try the next accepted name
    }
    if (r.status >= 400) throw Error(fmt::format("{}: {}", label, http_reason(r.status, url, true)));
    // Names from the network: validated before they touch a path.
    std::string commit = r.first.count("x-repo-commit") ? r.first["x-repo-commit"] : "";
    std::string etag = r.first.count("x-linked-etag") ? r.first["x-linked-etag"] : r.first["etag"];
    if (etag.rfind("W/", 0) == 0) etag.erase(0, 2);
    etag.erase(std::remove(etag.begin(), etag.end(), '"'), etag.end());
    if (!hf::is_commit(commit))
      throw Error(fmt::format("{}: server sent no valid X-Repo-Commit ('{}')", label, commit.substr(0, 80)));
    if (!hf::is_safe_etag(etag))
      throw Error(fmt::format("{}: server sent an unusable ETag ('{}')", label, etag.substr(0, 80)));
    Expect e = expect_of(*pf.spec);
    if (!e.size_bytes) {
      const std::string linked = r.first.count("x-linked-size") ? r.first["x-linked-size"] : "";
      if (!linked.empty() && linked.find_first_not_of("0123456789") == std::string::npos && linked.size() <= 19) {
        e.size_bytes = std::stoull(linked);
        e.size_from = "the hub's X-Linked-Size";
      } else if (r.content_length > 0) {
        e.size_bytes = r.content_length;
        e.size_from = "the hub's Content-Length";
      }
    }
    // The hub's etag names the contents: SHA-256 for an LFS file, git's blob SHA-1 for one stored in git.
    // A catalog SHA-256 wins; an LFS etag is preferred to the catalog's SHA-1 (whisper.cpp's README), as the
    // checker does for a cached blob (verify.h).
    if (!e.sha256 && etag.size() == 64) {
      e.sha256 = etag;
      e.sha256_from = "the hub's ETag";
    } else if (!e.sha256 && !e.sha1 && etag.size() == 40) {
      e.git_sha1 = etag;
    }
    const fs::path blob = hf::blob_path(pf.dir, etag);
    fs::create_directories(blob.parent_path());
    FileLock lock(hf::lock_path(pf.dir.parent_path(), art.repo, etag));
    std::error_code ec;
    if (fs::exists(blob, ec)) {
      // A blob of the wrong size, or (when the artifact was found corrupt) the wrong digest, is replaced.
      bool bad = e.size_bytes && fs::file_size(blob, ec) != *e.size_bytes;
      if (!bad && recheck && e.sha256) bad = file_digest(blob, DigestKind::kSha256) != *e.sha256;
      if (bad) fs::remove(blob, ec);
    }
    if (!fs::exists(blob, ec)) {
      fs::path part = blob;
      part += ".incomplete";
      fetch(url, part, e, o, o.hf_token, label, true);
      verify_or_discard(part, e, label);
      rename_into_place(part, blob);
    }
    hf::link_snapshot(pf.dir, commit, pf.names[i], etag);
    hf::write_ref(pf.dir, art.revision, commit);
    return;
  }
  if (pf.spec->optional) return;
  throw Error(fmt::format("{} ({}): {}", art.model, art.repo, last_404));
}

}  // namespace

DownloadOptions DownloadOptions::from_env() {
  DownloadOptions o;
  o.offline = env_truthy("HF_HUB_OFFLINE");
  o.openai_base_url = env_str("WHISPER_SPEEDTEST_OPENAI_URL");
  o.hf_endpoint = env_str("HF_ENDPOINT");
  o.hf_token = env_str("HF_TOKEN");
  if (auto v = env_str("WHISPER_SPEEDTEST_RETRIES"); !v.empty()) o.n_retries = std::atoi(v.c_str());
  if (auto v = env_str("WHISPER_SPEEDTEST_BACKOFF_MS"); !v.empty()) o.backoff_ms = std::atoi(v.c_str());
  if (auto v = env_str("WHISPER_SPEEDTEST_STALL_TIMEOUT"); !v.empty()) o.stall_timeout_s = std::atol(v.c_str());
  o.progress = ::isatty(2) == 1;
  return o;
}

fs::path PlannedFile::final_path(size_t i, const std::string& commit) const {
  if (!hub) return safe_join(dir, names.at(i), "catalog file");
  return safe_join(hf::snapshot_dir(dir, commit), names.at(i), "catalog file");
}

std::vector<PlannedFile> plan_download(const Resolver& resolver, const Artifact& art, const DownloadOptions& o) {
  const Catalog& cat = resolver.catalog();
  std::vector<PlannedFile> out;
  for (const FileSpec& spec : art.files) {
    PlannedFile pf;
    pf.spec = &spec;
    pf.names = spec.names;
    if (art.format == Format::kOpenai) {
      pf.dir = resolver.dirs().openai_dir;
      std::string url = art.url;
      std::string base = trim_slash(cat.openai_base_url());
      if (!o.openai_base_url.empty() && url.rfind(base + "/", 0) == 0)
        url = trim_slash(o.openai_base_url) + url.substr(base.size());
      pf.urls.push_back(url);
    } else {
      pf.hub = true;
      pf.dir = hf::repo_dir(resolver.dirs().hf_hub_dir, art.repo);
      std::string endpoint = trim_slash(o.hf_endpoint.empty() ? cat.hf_endpoint() : o.hf_endpoint);
      for (const auto& n : spec.names)
        pf.urls.push_back(fmt::format("{}/{}/resolve/{}/{}", endpoint, art.repo, art.revision, n));
    }
    out.push_back(std::move(pf));
  }
  return out;
}

void hf_commit_file(const fs::path& repo_dir, const std::string& revision, const std::string& commit,
                    const std::string& filename, const std::string& etag, const fs::path& tmp) {
  fs::path blob = hf::blob_path(repo_dir, etag);
  fs::create_directories(blob.parent_path());
  rename_into_place(tmp, blob);
  hf::link_snapshot(repo_dir, commit, filename, etag);
  hf::write_ref(repo_dir, revision, commit);
}

Probe download_artifact(const Resolver& resolver, const Artifact& art, const DownloadOptions& o) {
  Location home = resolver.download_home(art);
  Probe before = resolver.probe(art, home, Verify::kSize);
  if (before.status == Status::kComplete) return before;
  if (o.offline) throw Error(offline_message(art));
  for (const PlannedFile& pf : plan_download(resolver, art, o)) {
    if (art.format == Format::kOpenai) download_openai(pf, art, o);
    else download_hub_file(pf, art, o, before.status == Status::kCorrupt);
  }
  Probe after = resolver.probe(art, home, Verify::kSize);
  if (after.status != Status::kComplete)
    throw Error(fmt::format("{} ({}): still {} after download: {}", art.model, format_id(art.format),
                            status_id(after.status), after.detail));
  return after;
}

std::optional<uint64_t> download_size(const Artifact& art) {
  uint64_t n = 0;
  for (const auto& f : art.files) {
    if (f.optional) continue;
    if (!f.size_bytes) return std::nullopt;
    n += *f.size_bytes;
  }
  return n;
}

}  // namespace wst::models
