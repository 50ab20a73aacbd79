// shm_ring/detail/windows.hpp - the Windows system calls, in the same roles as os.hpp's POSIX ones:
// pagefile-backed named mappings (the segment), one named mutex per liveness lock, and views.
// The same design as the Rust crate's src/segment/windows.rs, so that the two interoperate:
//
// - The mapping has the segment's name without its '/', optionally after "Local\" or "Global\"
//   (the name the original library gives it). It is made and sized in one call,
//   CreateFileMappingW(INVALID_HANDLE_VALUE, ...), owner-only unless the mode grants group or
//   other bits (then Everyone too), and it disappears with its last handle: nothing unlinks it.
// - The lock on byte B of the POSIX design is the named mutex "<name>:lock<B>" (0 producer,
//   1 consumer). Every mutex of the process is taken and released by one thread that lives as
//   long as the process, since Windows gives a mutex to a thread and abandons it when that
//   thread ends; so it is abandoned exactly when the process dies. A mutex this process already
//   holds counts as held, as a second open file description's lock would on Linux.
// - The state of a mutex is queried with NtQueryMutant, which takes nothing; the size of a
//   mapping with NtQuerySection (Windows keeps it in whole pages). Both are looked up in ntdll
//   at run time, so that users link nothing extra.
// - Blocking calls poll in slices of at most 1 ms (there is no futex across processes).

#ifndef SHM_RING_DETAIL_WINDOWS_HPP
#define SHM_RING_DETAIL_WINDOWS_HPP

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace shm_ring {
namespace detail {

inline std::wstring widen(const std::string& ascii) { return std::wstring(ascii.begin(), ascii.end()); }

// Owns a Windows handle.
class handle_guard {
 public:
  handle_guard() noexcept = default;
  explicit handle_guard(HANDLE h) noexcept : h_(h) {}
  ~handle_guard() {
    if (h_ != nullptr) ::CloseHandle(h_);
  }
  handle_guard(handle_guard&& o) noexcept : h_(o.h_) { o.h_ = nullptr; }
  handle_guard& operator=(handle_guard&& o) noexcept {
    std::swap(h_, o.h_);
    return *this;
  }
  handle_guard(const handle_guard&) = delete;
  handle_guard& operator=(const handle_guard&) = delete;
  HANDLE get() const noexcept { return h_; }

 private:
  HANDLE h_ = nullptr;
};

// The ntdll queries, found at run time. Each returns an NTSTATUS (negative: failed).
struct nt_queries {
  typedef LONG(WINAPI* query_fn)(HANDLE, int, void*, ULONG, ULONG*);
  query_fn section = nullptr;
  query_fn mutant = nullptr;
  static const nt_queries& get() noexcept {
    static const nt_queries q = [] {
      nt_queries r;
      HMODULE ntdll = ::GetModuleHandleW(L"ntdll.dll");
      if (ntdll != nullptr) {
        r.section = reinterpret_cast<query_fn>(
            reinterpret_cast<void (*)()>(::GetProcAddress(ntdll, "NtQuerySection")));
        r.mutant = reinterpret_cast<query_fn>(
            reinterpret_cast<void (*)()>(::GetProcAddress(ntdll, "NtQueryMutant")));
      }
      return r;
    }();
    return q;
  }
};

// The errno that stands for a Win32 error in status (status reports errno values).
inline int errno_of(DWORD error) noexcept {
  switch (error) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND: return ENOENT;
    case ERROR_ALREADY_EXISTS: return EEXIST;
    case ERROR_ACCESS_DENIED: return EACCES;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_COMMITMENT_LIMIT: return ENOMEM;
    default: return EINVAL;
  }
}

// A security descriptor for objects this process creates: the user alone ("D:P(A;;GA;;;SID)"),
// plus Everyone if `mode` grants any group or other bit. Freed on destruction.
class security {
 public:
  explicit security(unsigned mode) noexcept {
    HANDLE token = nullptr;
    if (!::OpenProcessToken(::GetCurrentProcess(), TOKEN_QUERY, &token)) return;
    const handle_guard owned(token);
    alignas(8) unsigned char buffer[256];
    DWORD needed = 0;
    if (!::GetTokenInformation(token, TokenUser, buffer, sizeof buffer, &needed)) return;
    LPWSTR sid = nullptr;
    if (!::ConvertSidToStringSidW(reinterpret_cast<TOKEN_USER*>(buffer)->User.Sid, &sid)) return;
    std::wstring sddl = L"D:P(A;;GA;;;" + std::wstring(sid) + L")";
    ::LocalFree(sid);
    if ((mode & 077u) != 0) sddl += L"(A;;GA;;;WD)";
    if (!::ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl.c_str(), SDDL_REVISION_1,
                                                                &descriptor_, nullptr)) {
      descriptor_ = nullptr;
    }
  }
  ~security() {
    if (descriptor_ != nullptr) ::LocalFree(descriptor_);
  }
  security(const security&) = delete;
  security& operator=(const security&) = delete;
  bool valid() const noexcept { return descriptor_ != nullptr; }
  SECURITY_ATTRIBUTES* attributes() noexcept {
    attributes_.nLength = sizeof attributes_;
    attributes_.lpSecurityDescriptor = descriptor_;
    attributes_.bInheritHandle = FALSE;
    return &attributes_;
  }

 private:
  PSECURITY_DESCRIPTOR descriptor_ = nullptr;
  SECURITY_ATTRIBUTES attributes_{};
};

// The thread that takes and releases every liveness mutex of this process (see the top).
class lock_holder {
 public:
  static lock_holder& get() {
    // Never destroyed: the thread must outlive every end, up to the process's exit.
    static lock_holder* const instance = new lock_holder();
    return *instance;
  }

  // Takes the mutex `name` (created with `mode`'s permissions if missing) without waiting.
  // 0 taken, EAGAIN held by a live thread (this process's holder included), else an errno.
  int take(const std::string& name, unsigned mode) { return call(request{true, name, mode}); }

  // Releases the mutex `name` if this process holds it, and waits until it has.
  void release(const std::string& name) { (void)call(request{false, name, 0}); }

 private:
  struct request {
    bool take;
    std::string name;
    unsigned mode;
    int answer = -1;
  };

  lock_holder() {
    std::thread([this] { serve(); }).detach();
  }

  int call(request r) {
    std::unique_lock<std::mutex> lock(mutex_);
    queue_.push_back(&r);
    wake_.notify_all();
    done_.wait(lock, [&] { return r.answer >= 0; });
    return r.answer;
  }

  void serve() {
    std::map<std::string, HANDLE> held;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return !queue_.empty(); });
      request* r = queue_.front();
      queue_.pop_front();
      if (r->take) {
        r->answer = held.count(r->name) != 0 ? EAGAIN : acquire(r->name, r->mode, held);
      } else {
        const auto it = held.find(r->name);
        if (it != held.end()) {
          ::ReleaseMutex(it->second);
          ::CloseHandle(it->second);
          held.erase(it);
        }
        r->answer = 0;
      }
      done_.notify_all();
    }
  }

  static int acquire(const std::string& name, unsigned mode, std::map<std::string, HANDLE>& held) {
    security sd(mode);
    const HANDLE m = ::CreateMutexW(sd.valid() ? sd.attributes() : nullptr, FALSE,
                                    widen(name).c_str());
    if (m == nullptr) return errno_of(::GetLastError());
    const DWORD w = ::WaitForSingleObject(m, 0);
    if (w == WAIT_OBJECT_0 || w == WAIT_ABANDONED) {
      held[name] = m;
      return 0;
    }
    ::CloseHandle(m);
    return w == WAIT_TIMEOUT ? EAGAIN : EINVAL;
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::deque<request*> queue_;
};

// An open named mapping (or, for a creator, the name it is about to make), the liveness locks
// this end holds on it, and the mode of the objects it creates. The role of POSIX's descriptor.
class fd_guard {
 public:
  fd_guard() noexcept = default;
  fd_guard(std::string os_name, HANDLE mapping, unsigned mode) noexcept
      : os_name_(std::move(os_name)), mapping_(mapping), mode_(mode) {}
  ~fd_guard() { reset(); }
  fd_guard(fd_guard&& o) noexcept { swap(o); }
  fd_guard& operator=(fd_guard&& o) noexcept {
    swap(o);
    return *this;
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;

  // What the probes take: this object, or null when there is none (a ring in caller memory).
  const fd_guard* get() const noexcept { return mapping_ != nullptr ? this : nullptr; }
  HANDLE mapping() const noexcept { return mapping_; }
  const std::string& os_name() const noexcept { return os_name_; }
  void set_mapping(HANDLE mapping) noexcept { mapping_ = mapping; }

  std::string lock_name(int byte) const { return os_name_ + ":lock" + std::to_string(byte); }

  // Takes the lock on `byte` for as long as this object lives: 0, EAGAIN if held elsewhere.
  int take(int byte) const {
    if (held_[byte]) return 0;
    const int err = lock_holder::get().take(lock_name(byte), mode_);
    if (err == 0) held_[byte] = true;
    return err;
  }

  bool holds(int byte) const noexcept { return held_[byte]; }

 private:
  void swap(fd_guard& o) noexcept {
    std::swap(os_name_, o.os_name_);
    std::swap(mapping_, o.mapping_);
    std::swap(mode_, o.mode_);
    std::swap(held_[0], o.held_[0]);
    std::swap(held_[1], o.held_[1]);
  }
  void reset() noexcept {
    for (int byte = 0; byte < 2; ++byte) {
      if (held_[byte]) {
        try {
          lock_holder::get().release(lock_name(byte));
        } catch (...) {
        }
        held_[byte] = false;
      }
    }
    if (mapping_ != nullptr) ::CloseHandle(mapping_);
    mapping_ = nullptr;
  }

  std::string os_name_;
  HANDLE mapping_ = nullptr;
  unsigned mode_ = 0600;
  mutable bool held_[2] = {false, false};
};

// What the waiting code probes liveness through: the end's object, or null.
using object_ref = const fd_guard*;
inline bool has_object(object_ref o) noexcept { return o != nullptr; }

// Opens the existing mapping `os_name` for reading and writing (and for its size).
inline fd_guard open_object(const std::string& os_name, int& err) {
  const HANDLE h = ::OpenFileMappingW(FILE_MAP_READ | FILE_MAP_WRITE | SECTION_QUERY, FALSE,
                                      widen(os_name).c_str());
  err = h == nullptr ? errno_of(::GetLastError()) : 0;
  return fd_guard(os_name, h, 0600);
}

inline bool object_exists(const std::string& os_name) {
  int err = 0;
  const fd_guard o = open_object(os_name, err);
  return err == 0;
}

// The size of the mapping, in whole pages, or 0 if it cannot be told.
inline std::uint64_t object_size_of(const fd_guard& o) noexcept {
  struct {
    void* base;
    ULONG attributes;
    LARGE_INTEGER size;
  } info{};
  const nt_queries& nt = nt_queries::get();
  if (nt.section == nullptr || nt.section(o.mapping(), 0, &info, sizeof info, nullptr) < 0) return 0;
  return static_cast<std::uint64_t>(info.size.QuadPart);
}

// Makes the mapping of `o` (whose name it carries): `size` bytes of the paging file, committed
// now. 0, EEXIST if a mapping of that name appeared meanwhile, or another errno.
inline int make_object(fd_guard& o, std::uint64_t size, unsigned mode) {
  security sd(mode);
  const HANDLE h = ::CreateFileMappingW(INVALID_HANDLE_VALUE, sd.valid() ? sd.attributes() : nullptr,
                                        PAGE_READWRITE, static_cast<DWORD>(size >> 32),
                                        static_cast<DWORD>(size), widen(o.os_name()).c_str());
  if (h == nullptr) return errno_of(::GetLastError());
  if (::GetLastError() == ERROR_ALREADY_EXISTS) {
    ::CloseHandle(h);
    return EEXIST;
  }
  o.set_mapping(h);
  return 0;
}

inline bool barrier_registered() noexcept { return false; }

// Takes the side's liveness lock: 0, or EAGAIN when a live end holds it, or another errno.
inline int take_lock(object_ref o, side s) { return o->take(s == side::producer ? 0 : 1); }

// Whether a live end holds the side's lock (this end's own lock is not another's); false if
// the question cannot be answered.
inline bool lock_held(object_ref o, side s, bool& held) noexcept {
  const int byte = s == side::producer ? 0 : 1;
  if (o->holds(byte)) {
    held = false;
    return true;
  }
  const nt_queries& nt = nt_queries::get();
  if (nt.mutant == nullptr) return false;
  const HANDLE m = ::OpenMutexW(0x0001 /* MUTANT_QUERY_STATE */, FALSE,
                                widen(o->lock_name(byte)).c_str());
  if (m == nullptr) {
    if (::GetLastError() != ERROR_FILE_NOT_FOUND) return false;
    held = false;  // nobody has the mutex open: nobody holds it
    return true;
  }
  const handle_guard owned(m);
  struct {
    LONG count;
    BOOLEAN owned_by_caller;
    BOOLEAN abandoned;
  } info{};
  if (nt.mutant(m, 0, &info, sizeof info, nullptr) < 0) return false;
  held = info.count <= 0;  // an abandoned mutex is signalled again (count 1): free
  return true;
}

// Owns (or merely uses) a view of a mapping.
class mapping {
 public:
  mapping() noexcept = default;
  mapping(unsigned char* base, std::size_t size, bool owned) noexcept
      : base_(base), size_(size), owned_(owned) {}
  ~mapping() { reset(); }
  mapping(mapping&& other) noexcept
      : base_(other.base_), size_(other.size_), owned_(other.owned_) {
    other.base_ = nullptr;
    other.size_ = 0;
    other.owned_ = false;
  }
  mapping& operator=(mapping&& other) noexcept {
    if (this != &other) {
      reset();
      std::swap(base_, other.base_);
      std::swap(size_, other.size_);
      std::swap(owned_, other.owned_);
    }
    return *this;
  }
  mapping(const mapping&) = delete;
  mapping& operator=(const mapping&) = delete;

  unsigned char* base() const noexcept { return base_; }
  unsigned char* data() const noexcept { return base_ + header_size; }
  std::size_t size() const noexcept { return size_; }

  void reset() noexcept {
    if (owned_ && base_ != nullptr) ::UnmapViewOfFile(base_);
    base_ = nullptr;
    size_ = 0;
    owned_ = false;
  }

 private:
  unsigned char* base_ = nullptr;
  std::size_t size_ = 0;
  bool owned_ = false;
};

// Maps a read-write view of the first `size` bytes of the mapping (validated by the caller).
inline result<mapping> map_shared(object_ref o, std::size_t size, bool populate) noexcept {
  (void)populate;
  void* p = ::MapViewOfFile(o->mapping(), FILE_MAP_READ | FILE_MAP_WRITE, 0, 0, size);
  if (p == nullptr) return make::os(errc::system_error, "MapViewOfFile", errno_of(::GetLastError()));
  return mapping(static_cast<unsigned char*>(p), size, true);
}

}  // namespace detail
}  // namespace shm_ring

#endif  // SHM_RING_DETAIL_WINDOWS_HPP
