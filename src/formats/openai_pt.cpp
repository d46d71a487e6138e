// openai-whisper's checkpoint: reader and writer.
//
// A zip archive (formats/zip_archive.h) whose entries all sit under one folder, the "archive name" (torch
// takes it from the first entry; any name works):
//   <a>/data.pkl    the pickled object: {"dims": {n_mels: int, n_audio_ctx: int, ... (ModelDimensions)},
//                   "model_state_dict": OrderedDict(name -> tensor)}
//   <a>/data/<key>  one storage's raw little-endian elements, named by the key its tensors give
//   <a>/version     "3\n"                     <a>/byteorder  "little" (torch >= 2.1; absent before)
// A tensor is pickled as torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride,
// requires_grad, backward_hooks[, metadata]) where storage is a persistent id
// ("storage", torch.<Half|Float|BFloat16>Storage, key, location, numel). torch.load of torch 1.13 with
// weights_only=True (openai-whisper's load_model) accepts only protocol-2 opcodes and a short list of
// globals; the writer uses nothing else, and the reader allows nothing more (pickle.h's kTorchGlobals).
#include "formats/openai_pt.h"

#include <cstring>
#include <map>
#include <memory>

#include "formats/pickle.h"
#include "formats/strided_copy.h"
#include "formats/weight_io.h"
#include "formats/zip_archive.h"
#include "util/errors.h"
#include "util/half.h"
#include "util/mapped_file.h"

namespace wst::formats {
namespace {

// ModelDimensions' fields in openai-whisper's order, and where each lives in WhisperDims.
const std::pair<const char*, int WhisperDims::*> kDimFields[] = {
    {"n_mels", &WhisperDims::n_mels},           {"n_audio_ctx", &WhisperDims::n_audio_ctx},
    {"n_audio_state", &WhisperDims::n_audio_state}, {"n_audio_head", &WhisperDims::n_audio_head},
    {"n_audio_layer", &WhisperDims::n_audio_layer}, {"n_vocab", &WhisperDims::n_vocab},
    {"n_text_ctx", &WhisperDims::n_text_ctx},   {"n_text_state", &WhisperDims::n_text_state},
    {"n_text_head", &WhisperDims::n_text_head}, {"n_text_layer", &WhisperDims::n_text_layer},
};

constexpr size_t kMaxRank = 8;

const char* storage_class(DType t) {
  switch (t) {
    case DType::kF32: return "FloatStorage";
    case DType::kF16: return "HalfStorage";
    case DType::kBF16: return "BFloat16Storage";
  }
  return "?";
}

class CheckpointReader {
 public:
  CheckpointReader(const uint8_t* data, size_t size, const std::string& path)
      : path_(path), zip_(data, size, path) {}

  WhisperWeights read() {
    const auto& entries = zip_.entries();
    if (entries.empty()) throw Error(path_ + ": empty zip archive, not a torch checkpoint");
    const std::string& first = entries[0].name;
    const size_t slash = first.find('/');
    if (slash == std::string::npos || slash == 0)
      throw Error(path_ + ": not a torch checkpoint (its first entry " + first + " is not inside a folder)");
    prefix_ = first.substr(0, slash + 1);
    for (const auto& e : entries)
      if (e.name.compare(0, prefix_.size(), prefix_) != 0)
        throw Error(path_ + ": not a torch checkpoint (entry " + e.name + " is outside " + prefix_ + ")");
    if (const ZipEntry* bo = zip_.find(prefix_ + "byteorder")) {
      ZipData d = zip_.read(*bo);
      if (std::string(reinterpret_cast<const char*>(d.data), d.size) != "little")
        throw Error(path_ + ": big-endian checkpoints are not supported");
    }
    const ZipEntry* pkl = zip_.find(prefix_ + "data.pkl");
    if (!pkl) throw Error(path_ + ": not a torch checkpoint (no " + prefix_ + "data.pkl)");
    ZipData pd = zip_.read(*pkl);
    p_ = parse_pickle(pd.data, pd.size, path_, kTorchGlobals);

    WhisperWeights w;
    w.format = "openai";
    w.path = path_;
    const PyObj& root = p_.root();
    if (root.type != PyType::kDict) throw Error(path_ + ": the checkpoint is not a dict");
    const PyObj* dims = p_.dict_get(root, "dims");
    const PyObj* sd = p_.dict_get(root, "model_state_dict");
    if (!dims || !sd) throw Error(path_ + ": not an openai-whisper checkpoint (no \"dims\" or \"model_state_dict\")");
    w.dims = read_dims(*dims);
    if (sd->type != PyType::kDict) throw Error(path_ + ": model_state_dict is not a dict");
    for (size_t k = 0; k + 1 < sd->items.size(); k += 2) {
      const PyObj& key = p_.at(sd->items[k]);
      if (key.type != PyType::kStr) throw Error(path_ + ": model_state_dict has a key that is not a string");
      add_tensor(w, key.s, p_.at(sd->items[k + 1]));
    }
    for (auto& b : owned_) w.keep_alive(b);
    return w;
  }

 private:
  WhisperDims read_dims(const PyObj& d) {
    if (d.type != PyType::kDict) throw Error(path_ + ": dims is not a dict");
    WhisperDims dims;
    std::map<std::string, bool> seen;
    for (size_t k = 0; k + 1 < d.items.size(); k += 2) {
      const PyObj& key = p_.at(d.items[k]);
      const PyObj& v = p_.at(d.items[k + 1]);
      bool known = false;
      for (const auto& [name, field] : kDimFields) {
        if (key.type != PyType::kStr || key.s != name) continue;
        if (v.type != PyType::kInt || v.i < 0 || v.i > (1 << 30)) throw Error(path_ + ": dims." + name + " is not a size");
        dims.*field = static_cast<int>(v.i);
        known = seen[name] = true;
      }
      if (!known) throw Error(path_ + ": dims has an unknown field" + (key.type == PyType::kStr ? " " + key.s : ""));
    }
    for (const auto& [name, field] : kDimFields)
      if (!seen.count(name)) throw Error(path_ + ": dims lacks " + name);
    return dims;
  }

  // Ints of a tuple, e.g. a size or a stride.
  std::vector<int64_t> int_tuple(const PyObj& t, const std::string& what) {
    if (t.type != PyType::kTuple || t.items.size() > kMaxRank) throw Error(path_ + ": " + what + " is not a tuple of at most 8 ints");
    std::vector<int64_t> v;
    for (uint32_t i : t.items) {
      const PyObj& o = p_.at(i);
      if (o.type != PyType::kInt || o.i < 0) throw Error(path_ + ": " + what + " holds something other than a size");
      v.push_back(o.i);
    }
    return v;
  }

  void add_tensor(WhisperWeights& w, const std::string& name, const PyObj& value) {
    const std::string where = path_ + ": tensor " + name;
    const PyObj* call = &value;
    // A Parameter wraps the tensor: _rebuild_parameter(tensor, requires_grad, backward_hooks).
    if (call->type == PyType::kCall && p_.at(call->items[0]).s == "torch._utils._rebuild_parameter") {
      const PyObj& args = p_.at(call->items[1]);
      if (args.items.empty()) throw Error(where + ": _rebuild_parameter without arguments");
      call = &p_.at(args.items[0]);
    }
    if (call->type != PyType::kCall || p_.at(call->items[0]).s != "torch._utils._rebuild_tensor_v2")
      throw Error(where + ": not a tensor (expected torch._utils._rebuild_tensor_v2)");
    const PyObj& args = p_.at(call->items[1]);
    if (args.items.size() != 6 && args.items.size() != 7) throw Error(where + ": _rebuild_tensor_v2 with " + std::to_string(args.items.size()) + " arguments");
    const PyObj& pers = p_.at(args.items[0]);
    const PyObj& off = p_.at(args.items[1]);
    if (pers.type != PyType::kPersistent || off.type != PyType::kInt || off.i < 0)
      throw Error(where + ": storage or offset of the wrong kind");
    const PyObj& pid = p_.at(pers.items[0]);
    if (pid.type != PyType::kTuple || pid.items.size() != 5 || p_.at(pid.items[0]).s != "storage" ||
        p_.at(pid.items[1]).type != PyType::kGlobal || p_.at(pid.items[2]).type != PyType::kStr ||
        p_.at(pid.items[4]).type != PyType::kInt || p_.at(pid.items[4]).i < 0)
      throw Error(where + ": its storage is not (\"storage\", class, key, location, numel)");
    const std::string& cls = p_.at(pid.items[1]).s;
    DType dtype;
    if (cls == "torch.FloatStorage") dtype = DType::kF32;
    else if (cls == "torch.HalfStorage") dtype = DType::kF16;
    else if (cls == "torch.BFloat16Storage") dtype = DType::kBF16;
    else throw Error(where + ": storage class " + cls + " is not float32, float16 or bfloat16");
    const std::string& key = p_.at(pid.items[2]).s;
    const uint64_t numel = static_cast<uint64_t>(p_.at(pid.items[4]).i);
    const size_t elem = dtype_size(dtype);

    const ZipEntry* e = key.empty() || key.find('/') != std::string::npos ? nullptr : zip_.find(prefix_ + "data/" + key);
    if (!e) throw Error(where + ": its storage " + prefix_ + "data/" + key + " is missing");
    if (numel > e->size / elem || e->size != numel * elem)
      throw Error(where + ": storage data/" + key + " holds " + std::to_string(e->size) + " bytes, its pickle says " +
                  std::to_string(numel) + " elements of " + std::to_string(elem));
    const ZipData storage = storage_of(*e);

    const std::vector<int64_t> shape = int_tuple(p_.at(args.items[2]), name + "'s size");
    const std::vector<int64_t> stride = int_tuple(p_.at(args.items[3]), name + "'s stride");
    if (stride.size() != shape.size()) throw Error(where + ": size and stride differ in rank");
    // Every element must lie inside the storage, and a tensor that does not overlap itself has no more elements
    // than its storage. Checked after each dimension, in 128 bits, so that no shape or stride can wrap.
    bool empty = false;
    for (int64_t d : shape) empty = empty || d == 0;
    size_t n = 0;
    if (!empty) {
      unsigned __int128 last = static_cast<uint64_t>(off.i), count = 1;
      for (size_t k = 0; k < shape.size(); ++k) {
        if (shape[k] > 1 && stride[k] == 0) throw Error(where + ": stride 0 (a broadcast view) is not supported");
        count *= static_cast<uint64_t>(shape[k]);
        last += static_cast<unsigned __int128>(shape[k] - 1) * static_cast<uint64_t>(stride[k]);
        if (count > numel || last >= numel)
          throw Error(where + ": shape " + shape_string(shape) + " with stride " + shape_string(stride) +
                      " at offset " + std::to_string(off.i) + " does not fit in its storage of " +
                      std::to_string(numel) + " elements");
      }
      if (last >= numel)  // a scalar (no dimensions) past the end
        throw Error(where + ": offset " + std::to_string(off.i) + " is outside its storage of " + std::to_string(numel) + " elements");
      n = static_cast<size_t>(count);
    }
    // Contiguous (row-major) tensors are views; others are copied in order.
    bool contiguous = true;
    int64_t expect = 1;
    for (size_t k = shape.size(); !empty && k-- > 0;) {
      if (shape[k] != 1 && stride[k] != expect) contiguous = false;
      expect *= shape[k];
    }
    const uint8_t* base = storage.data + (empty ? 0 : static_cast<size_t>(off.i) * elem);
    if (empty || contiguous)
      w.add_view(name, shape, dtype, base, n * elem);
    else
      w.add_owned(name, shape, dtype, strided_copy(base, shape, stride, elem));
  }

  ZipData storage_of(const ZipEntry& e) {
    auto it = storages_.find(e.name);
    if (it != storages_.end()) return it->second;
    ZipData d = zip_.read(e);
    if (d.owned) owned_.push_back(d.owned);
    return storages_[e.name] = d;
  }

  std::string path_;
  ZipArchive zip_;
  std::string prefix_;
  Pickle p_;
  std::map<std::string, ZipData> storages_;
  std::vector<std::shared_ptr<const std::vector<uint8_t>>> owned_;
};

// The tensor's bytes as `out` (exact when widening; rounding to nearest even when narrowing).
std::vector<uint8_t> converted(const TensorRef& t, DType out) {
  const std::vector<float> f = t.to_f32();
  std::vector<uint8_t> b(f.size() * dtype_size(out));
  if (out == DType::kF32) {
    std::memcpy(b.data(), f.data(), b.size());
  } else {
    for (size_t i = 0; i < f.size(); ++i) {
      const uint16_t h = out == DType::kF16 ? float_to_half(f[i]) : float_to_bfloat16(f[i]);
      std::memcpy(b.data() + 2 * i, &h, 2);
    }
  }
  return b;
}

void int_tuple(PickleWriter& p, const std::vector<int64_t>& v) {
  if (v.size() > 3) p.mark();
  for (int64_t x : v) p.integer(x);
  if (v.size() > 3) p.tuple_from_mark();
  else p.tuple(v.size());
}

}  // namespace

WhisperWeights parse_openai_pt(const uint8_t* data, size_t size, const std::string& path) {
  return CheckpointReader(data, size, path).read();
}

WhisperWeights read_openai_pt(const std::string& file) {
  auto mapped = std::make_shared<MappedFile>(file);
  WhisperWeights w = parse_openai_pt(mapped->data(), mapped->size(), file);
  w.keep_alive(mapped);
  w.validate();
  return w;
}

void write_openai_pt(const WhisperWeights& w, const std::string& file, std::optional<DType> dtype) {
  const auto expected = expected_tensors(w.dims);
  PickleWriter p;
  p.empty_dict().mark();
  p.str("dims").empty_dict().mark();
  for (const auto& [name, field] : kDimFields) p.str(name).integer(w.dims.*field);
  p.setitems();
  p.str("model_state_dict").global("collections", "OrderedDict").tuple(0).reduce().mark();
  std::vector<const TensorRef*> tensors;
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto& [name, shape] = expected[i];
    const TensorRef& t = w.get(name, shape);
    tensors.push_back(&t);
    const DType out = dtype.value_or(t.dtype);
    std::vector<int64_t> stride(shape.size());
    int64_t s = 1;
    for (size_t k = shape.size(); k-- > 0;) stride[k] = s, s *= shape[k];
    p.str(name).global("torch._utils", "_rebuild_tensor_v2").mark();
    p.mark().str("storage").global("torch", storage_class(out)).str(std::to_string(i)).str("cpu");
    p.integer(static_cast<int64_t>(t.n_elements())).tuple_from_mark().persid();
    p.integer(0);
    int_tuple(p, shape);
    int_tuple(p, stride);
    p.boolean(false).global("collections", "OrderedDict").tuple(0).reduce();
    p.tuple_from_mark().reduce();
  }
  p.setitems().setitems();
  const std::string pickle = p.finish();

  // Entries in torch's order: the pickle, then the storages, then the version.
  const std::string a = "archive/";
  ZipWriter zip(file);
  zip.add(a + "data.pkl", {{pickle.data(), pickle.size()}});
  zip.add(a + "byteorder", {{"little", 6}});
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorRef& t = *tensors[i];
    const DType out = dtype.value_or(t.dtype);
    if (out == t.dtype) {
      zip.add(a + "data/" + std::to_string(i), {{t.data, t.n_bytes}});
    } else {
      const std::vector<uint8_t> b = converted(t, out);
      zip.add(a + "data/" + std::to_string(i), {{b.data(), b.size()}});
    }
  }
  zip.add(a + "version", {{"3\n", 2}});
  zip.finish();
}

}  // namespace wst::formats
