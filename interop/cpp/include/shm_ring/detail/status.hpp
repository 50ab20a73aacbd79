// shm_ring/detail/status.hpp - errors: shm_ring::errc (a std::error_code enum), the status that
// carries an error code with the values that explain it, result<T>, and the sentences they make.

#ifndef SHM_RING_DETAIL_STATUS_HPP
#define SHM_RING_DETAIL_STATUS_HPP

#include "layout.hpp"

namespace shm_ring {

// ---------------------------------------------------------------------------------------------
// Error codes
// ---------------------------------------------------------------------------------------------

/// Every way an operation can fail. 0 is never used (it means success in std::error_code).
enum class errc : int {
  full = 1,           ///< not enough free space for the record right now
  empty,              ///< no message to read right now
  timeout,            ///< the wait ran out
  empty_message,      ///< empty messages are refused
  too_large,          ///< the message can never fit in this ring
  buffer_too_small,   ///< the caller's buffer is smaller than the next message (it stays)
  not_found,          ///< no segment of that name
  not_ready,          ///< the segment exists but its producer has not initialised it yet
  already_exists,     ///< exclusive create found a segment of that name
  permission_denied,  ///< the OS refused access
  invalid_name,       ///< the name breaks the naming rules
  invalid_capacity,   ///< requested capacity out of range, or a bad capacity word in a header
  segment_too_small,  ///< the segment cannot hold the header or the data area it claims
  corrupted,          ///< the peer broke the protocol; reading cannot go on
  system_error,       ///< any other OS failure (see status::sys_errno / status::operation)
  in_use,             ///< a live producer owns the segment, or a live consumer reads it
  peer_gone,          ///< the other side's process has ended (or it closed the ring)
  unsupported,        ///< the OS cannot do it (Windows: removing a name, replacing a held one)
};

/// The std::error_category of shm_ring::errc.
inline const std::error_category& category() noexcept {
  class category_impl final : public std::error_category {
   public:
    const char* name() const noexcept override { return "shm_ring"; }
    std::string message(int value) const override {
      switch (static_cast<errc>(value)) {
        case errc::full: return "the ring is full";
        case errc::empty: return "the ring is empty";
        case errc::timeout: return "timed out";
        case errc::empty_message: return "empty messages are refused";
        case errc::too_large: return "the message is larger than the ring can carry";
        case errc::buffer_too_small: return "the buffer is smaller than the next message";
        case errc::not_found: return "shared-memory segment not found";
        case errc::not_ready: return "shared-memory segment not initialised yet";
        case errc::already_exists: return "shared-memory segment already exists";
        case errc::permission_denied: return "permission denied";
        case errc::invalid_name: return "invalid segment name";
        case errc::invalid_capacity: return "invalid capacity";
        case errc::segment_too_small: return "shared-memory segment too small";
        case errc::corrupted: return "corrupted ring";
        case errc::system_error: return "system call failed";
        case errc::in_use: return "shared-memory segment in use";
        case errc::peer_gone: return "the other side of the ring is gone";
        case errc::unsupported: return "not possible on this OS";
      }
      return "unknown shm_ring error " + std::to_string(value);
    }
  };
  static const category_impl instance;
  return instance;
}

inline std::error_code make_error_code(errc e) noexcept {
  return std::error_code(static_cast<int>(e), category());
}

/// Which naming rule a name broke (status::name_problem, for errc::invalid_name).
enum class name_issue : int {
  none = 0,
  empty,          ///< no characters after the optional leading '/'
  bad_character,  ///< a character outside A-Z a-z 0-9 . _ - (a second '/' included)
  too_long,       ///< more than max_name_length characters
  dots,           ///< "." or ".."
};

/// What a corrupted ring looks like (status::corruption, for errc::corrupted).
enum class corruption : int {
  none = 0,
  truncated_prefix,          ///< fewer than 4 bytes published at the tail
  length_too_large,          ///< a length prefix above capacity - 4
  length_exceeds_published,  ///< a length prefix reaching past the published bytes
};

/// What is known about the other side of a ring (producer::is_peer_alive,

namespace detail {
struct make;
}

// ---------------------------------------------------------------------------------------------
// status and result<T>
// ---------------------------------------------------------------------------------------------

/// Success, or an error code with the values that explain it.
///
/// | code              | accessors                                                          |
/// |-------------------|--------------------------------------------------------------------|
/// | full              | needed(): record bytes (prefix included), available(): free bytes  |
/// | too_large         | needed(): message length, available(): largest message,            |
/// |                   | needed_capacity(): the capacity that carries it (0: none does)     |
/// | buffer_too_small  | needed(): message length, available(): buffer size                 |
/// | segment_too_small | needed(): bytes the segment must have, available(): its size       |
/// | corrupted         | corruption(), tail_index(), length(), readable()                   |
/// | invalid_capacity  | value(): the requested capacity or the capacity word               |
/// | invalid_name      | name_problem(), value() (length or position), character()          |
/// | timeout           | waited(), last(): what was waited out (full, empty, not_found,     |
/// |                   | not_ready; none for wait_until_empty)                              |
/// | permission_denied, system_error, not_found, already_exists:                             |
/// |                   | sys_errno(), operation(): the OS call                              |
/// | in_use            | segment(): the segment's name; message() says which side is alive  |
/// | peer_gone         | message(): "the producer is gone" or "the consumer is gone"        |
class status {
 public:
  constexpr status() noexcept = default;
  constexpr explicit status(errc code) noexcept : code_(code) {}

  bool ok() const noexcept { return code_ == errc{}; }
  explicit operator bool() const noexcept { return ok(); }
  errc code() const noexcept { return code_; }
  std::error_code error_code() const noexcept {
    return ok() ? std::error_code() : make_error_code(code_);
  }

  std::uint64_t needed() const noexcept { return a_; }
  std::uint64_t available() const noexcept { return b_; }
  std::uint64_t value() const noexcept { return a_; }
  std::uint32_t tail_index() const noexcept { return static_cast<std::uint32_t>(a_); }
  std::uint32_t length() const noexcept { return static_cast<std::uint32_t>(b_); }
  std::uint32_t readable() const noexcept { return static_cast<std::uint32_t>(c_); }
  /// The capacity to create a ring with so that it carries the message (errc::too_large):
  /// capacity_for_message(needed()); 0 when no ring carries it, or for other codes.
  std::uint64_t needed_capacity() const noexcept { return code_ == errc::too_large ? c_ : 0; }
  shm_ring::corruption corruption() const noexcept {
    return code_ == errc::corrupted ? static_cast<shm_ring::corruption>(sub_)
                                    : shm_ring::corruption::none;
  }
  name_issue name_problem() const noexcept {
    return code_ == errc::invalid_name ? static_cast<name_issue>(sub_) : name_issue::none;
  }
  unsigned char character() const noexcept { return static_cast<unsigned char>(b_); }
  std::chrono::nanoseconds waited() const noexcept {
    return std::chrono::nanoseconds(static_cast<std::chrono::nanoseconds::rep>(a_));
  }
  errc last() const noexcept { return code_ == errc::timeout ? static_cast<errc>(sub_) : errc{}; }
  int sys_errno() const noexcept { return errno_; }
  const char* operation() const noexcept { return op_ != nullptr ? op_ : ""; }
  /// The segment's name without a leading '/' (errc::in_use; "" otherwise).
  const char* segment() const noexcept { return segment_; }

  /// A sentence saying what went wrong, with the values involved ("" on success).
  std::string message() const;

 private:
  friend struct detail::make;
  errc code_ = errc{};
  int sub_ = 0;
  int errno_ = 0;
  const char* op_ = nullptr;
  std::uint64_t a_ = 0;
  std::uint64_t b_ = 0;
  std::uint64_t c_ = 0;
  char segment_[max_name_length + 2] = {};  // a valid name and its terminating 0
};

inline bool operator==(const status& s, errc e) noexcept { return s.code() == e; }
inline bool operator!=(const status& s, errc e) noexcept { return s.code() != e; }

/// A value of type T, or the status that explains why there is none.
/// T must be default-constructible and movable. value() on an error aborts.
template <class T>
class result {
 public:
  // Two overloads rather than one by-value parameter, so that `return local;` moves in C++14.
  result(T&& value) noexcept(std::is_nothrow_move_constructible<T>::value)  // NOLINT: implicit
      : value_(std::move(value)) {}
  result(const T& value) : value_(value) {}  // NOLINT: implicit
  result(status error) noexcept : status_(error) {  // NOLINT: implicit
    if (status_.ok()) std::abort();  // a result made from a status must carry an error
  }

  bool ok() const noexcept { return status_.ok(); }
  explicit operator bool() const noexcept { return ok(); }
  errc code() const noexcept { return status_.code(); }
  const status& error() const noexcept { return status_; }

  T& value() & noexcept { check(); return value_; }
  const T& value() const& noexcept { check(); return value_; }
  T&& value() && noexcept { check(); return std::move(value_); }
  T& operator*() & noexcept { return value(); }
  const T& operator*() const& noexcept { return value(); }
  T* operator->() noexcept { return &value(); }
  const T* operator->() const noexcept { return &value(); }

 private:
  void check() const noexcept {
    if (!status_.ok()) std::abort();
  }
  T value_{};
  status status_{};
};

namespace detail {

// Builds error statuses; the only code that fills in a status's details.
struct make {
  static status with(errc code, int sub = 0, std::uint64_t a = 0, std::uint64_t b = 0,
                     std::uint64_t c = 0) noexcept {
    status s(code);
    s.sub_ = sub;
    s.a_ = a;
    s.b_ = b;
    s.c_ = c;
    return s;
  }
  static status os(errc code, const char* op, int err) noexcept {
    status s(code);
    s.op_ = op;
    s.errno_ = err;
    return s;
  }
  static status full(std::uint32_t need, std::uint32_t free_bytes) noexcept {
    return with(errc::full, 0, need, free_bytes);
  }
  static status too_large(std::size_t len, std::uint32_t max) noexcept {
    return with(errc::too_large, 0, len, max, capacity_for_message(len));
  }
  static status buffer_too_small(std::size_t needed, std::size_t available) noexcept {
    return with(errc::buffer_too_small, 0, needed, available);
  }
  static status corrupted(corruption kind, std::uint32_t tail, std::uint32_t len,
                          std::uint32_t readable) noexcept {
    return with(errc::corrupted, static_cast<int>(kind), tail, len, readable);
  }
  static status timeout(std::chrono::nanoseconds waited, errc last = errc{}) noexcept {
    const std::int64_t ns = waited.count() < 0 ? 0 : static_cast<std::int64_t>(waited.count());
    return with(errc::timeout, static_cast<int>(last), static_cast<std::uint64_t>(ns));
  }
  // sub: 0 = the segment's size is 0, 1 = its capacity word is 0
  static status not_ready(int sub) noexcept { return with(errc::not_ready, sub); }
  // sub: 0 = smaller than the header, 1 = smaller than 16 + capacity word,
  //      2 = memory given to producer::create_in_memory too small for any ring and its
  //          extension block
  static status segment_too_small(int sub, std::uint64_t needed, std::uint64_t size) noexcept {
    return with(errc::segment_too_small, sub, needed, size);
  }
  // sub: 0 = requested capacity (1 ..= 2^31), 1 = capacity word in a header,
  //      2 = requested capacity of the original library's rounding (8 ..= 2^32 - 1)
  static status invalid_capacity(int sub, std::uint64_t value) noexcept {
    return with(errc::invalid_capacity, sub, value);
  }
  static status bad_name(name_issue issue, std::uint64_t value = 0,
                         unsigned char ch = 0) noexcept {
    return with(errc::invalid_name, static_cast<int>(issue), value, ch);
  }
  // sub: 0 = a live producer owns it (producer::create, producer::open), 1 = a live consumer
  // reads it (consumer::open). `name` is a valid name without its '/'.
  static status in_use(int sub, const std::string& name) noexcept {
    status s = with(errc::in_use, sub);
    const std::size_t n = name.size() < max_name_length ? name.size() : max_name_length;
    std::memcpy(s.segment_, name.data(), n);
    s.segment_[n] = '\0';
    return s;
  }
  // sub: 0 = the producer is gone (seen by the consumer), 1 = the consumer is gone
  static status peer_gone(int sub) noexcept { return with(errc::peer_gone, sub); }
  // sub: 0 = removing a segment, 1 = replacing a segment another process still has open
  static status unsupported(int sub) noexcept { return with(errc::unsupported, sub); }
  // Maps errno of a failed OS call to the matching code.
  static status from_errno(const char* op, int err) noexcept {
    switch (err) {
      case ENOENT: return os(errc::not_found, op, err);
      case EEXIST: return os(errc::already_exists, op, err);
      case EACCES:
      case EPERM: return os(errc::permission_denied, op, err);
      default: return os(errc::system_error, op, err);
    }
  }
};

}  // namespace detail

inline std::string status::message() const {
  const auto num = [](std::uint64_t v) { return std::to_string(v); };
  const auto os_error = [this](const char* what) {
    std::string m = what;
    if (op_ != nullptr) {
      m += " (";
      m += op_;
      m += ": ";
      m += std::generic_category().message(errno_);
      m += ")";
    }
    return m;
  };
  switch (code_) {
    case errc::full:
      return "the ring is full: the record needs " + num(a_) + " bytes, " + num(b_) +
             " are free";
    case errc::empty: return "the ring is empty: no message to read";
    case errc::timeout: {
      std::string m = "timed out after " + num(a_ / 1000000) + " ms";
      if (sub_ != 0) {
        m += " (last: " + make_error_code(static_cast<errc>(sub_)).message() + ")";
      }
      return m;
    }
    case errc::empty_message:
      return "empty messages are refused (consumers of the original library stall on them)";
    case errc::too_large:
      return "a " + num(a_) + "-byte message can never fit: the largest this ring carries is " +
             num(b_) + " bytes; " +
             (c_ != 0 ? "create the ring with capacity " + num(c_) + " to carry it"
                      : std::string("no ring carries more than 2147483644 bytes"));
    case errc::buffer_too_small:
      return "the next message has " + num(a_) + " bytes but the buffer holds only " + num(b_) +
             "; the message stays in the ring";
    case errc::not_found: return os_error("no shared-memory segment of that name exists");
    case errc::not_ready:
      return sub_ == 0 ? "the segment exists but its producer has not sized it yet (size 0)"
                       : "the segment exists but its producer has not initialised it yet "
                         "(capacity word 0)";
    case errc::already_exists: return os_error("a shared-memory segment of that name exists");
    case errc::permission_denied: return os_error("permission denied");
    case errc::invalid_name:
      switch (static_cast<name_issue>(sub_)) {
        case name_issue::empty: return "invalid segment name: the name is empty";
        case name_issue::bad_character: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned>(b_ & 0xFF));
          std::string m = "invalid segment name: character ";
          if (b_ > 0x20 && b_ < 0x7F) {
            m += '\'';
            m += static_cast<char>(b_);
            m += '\'';
          } else {
            m += hex;
          }
          return m + " at position " + num(a_) + " is not allowed (use A-Z a-z 0-9 . _ -)";
        }
        case name_issue::too_long:
          return "invalid segment name: it has " + num(a_) + " characters; at most " +
                 num(max_name_length) + " are allowed";
        case name_issue::dots: return "invalid segment name: \".\" and \"..\" are not allowed";
        case name_issue::none: break;
      }
      return "invalid segment name";
    case errc::invalid_capacity:
      switch (sub_) {
        case 0: return "requested capacity " + num(a_) + " is outside 1..=2147483648 bytes";
        case 2: return "requested capacity " + num(a_) + " is outside 8..=4294967295 bytes";
        default:
          return "the segment's capacity word is " + num(a_) +
                 ", not a power of two from 8 to 2^31";
      }
    case errc::segment_too_small:
      switch (sub_) {
        case 0: return "the segment is " + num(b_) + " bytes, smaller than the 16-byte header";
        case 1:
          return "the segment's header claims capacity " + num(a_ - header_size) + ", but its " +
                 num(b_) + " bytes hold at most " + num(b_ - header_size) + " after the header";
        default:
          return "the memory is " + num(b_) + " bytes; a ring needs at least " + num(a_) +
                 " (the 16-byte header, 8 bytes of data and the 64-byte extension block at "
                 "offset 64)";
      }
    case errc::corrupted:
      switch (static_cast<shm_ring::corruption>(sub_)) {
        case corruption::truncated_prefix:
          return "corrupted ring: only " + num(c_) + " bytes are published at index " +
                 num(a_) + ", fewer than a 4-byte length prefix";
        case corruption::length_too_large:
          return "corrupted ring: the record at index " + num(a_) + " claims " + num(b_) +
                 " payload bytes, more than this ring can hold (readable: " + num(c_) + ")";
        case corruption::length_exceeds_published:
          return "corrupted ring: the record at index " + num(a_) + " claims " + num(b_) +
                 " payload bytes, but only " + num(c_) +
                 " bytes (prefix included) are published";
        case corruption::none: break;
      }
      return "corrupted ring";
    case errc::system_error: return os_error("system call failed");
    case errc::in_use:
      return std::string("segment \"") + segment_ + "\" is in use: " +
             (sub_ == 0 ? "its producer is alive" : "a live consumer is reading it");
    case errc::peer_gone: return sub_ == 0 ? "the producer is gone" : "the consumer is gone";
    case errc::unsupported:
      return sub_ == 0 ? "a Windows named mapping has no name to remove: it disappears when the "
                         "last process holding it closes it"
                       : "a Windows named mapping lives while any process has it open, and its "
                         "name cannot be taken from it; producer::open takes over its producer "
                         "role";
  }
  return std::string();
}

}  // namespace shm_ring

namespace std {
template <>
struct is_error_code_enum<shm_ring::errc> : true_type {};
}  // namespace std

#endif  // SHM_RING_DETAIL_STATUS_HPP
