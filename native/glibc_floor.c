// The glibc floor of the prebuilt addon (README, "Prebuilt binaries").
//
// The addon is built on a recent glibc, with libstdc++ and libgcc linked in
// statically, and must still load on glibc 2.28. A symbol that the build's
// glibc exports at a version newer than 2.28 would stop the load there, so
// each one the addon or those static libraries use is defined here, hidden
// inside the addon, and the link resolves to that:
//   - a symbol 2.28 already had, under an older version, forwards to that
//     version (`.symver` pins the reference): the pthread functions glibc
//     2.34 moved into libc, `exp` (2.29's is only faster);
//   - a symbol 2.28 did not have is written here from calls 2.28 has.
// Each group is compiled only where the headers are of a glibc with the new
// version, so a source build on an older glibc or on musl leaves it out;
// sanitizer builds leave it all out (binding.gyp). test/package.test.ts reads
// the versions the packed binaries need: a compiler that pulls in another
// new symbol fails it there, and the symbol is then added here.

#include <features.h>  // says whether this is glibc, and which

#if defined(__GLIBC__) && (defined(__x86_64__) || defined(__aarch64__)) && !defined(BLOCKCOPY_NO_GLIBC_FLOOR)

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

// Every symbol pinned below has been in glibc at this version since the
// architecture's first glibc. That is not true of every symbol (at this
// version pthread_cond_* is the old condition variable): check a new entry's
// history before pinning it.
#if defined(__x86_64__)
#define FLOOR_VERSION "GLIBC_2.2.5"
#else
#define FLOOR_VERSION "GLIBC_2.17"
#endif

#define HIDDEN __attribute__((visibility("hidden")))
// Declares name##_floor as `name` at the floor version.
#define PIN(name) \
  extern __typeof__(name) name##_floor; \
  __asm__(".symver " #name "_floor, " #name "@" FLOOR_VERSION)

#if __GLIBC_PREREQ(2, 34)
// libpthread moved into libc with new versions; on older glibc these live in
// libpthread.so.0, which Node itself links there, so lookup finds them.
extern int __pthread_key_create(pthread_key_t *key, void (*destructor)(void *));
PIN(pthread_create);
PIN(pthread_join);
PIN(pthread_detach);
PIN(pthread_once);
PIN(pthread_key_create);
PIN(__pthread_key_create);
PIN(pthread_key_delete);
PIN(pthread_getspecific);
PIN(pthread_setspecific);

HIDDEN int pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg) {
  return pthread_create_floor(thread, attr, start, arg);
}
HIDDEN int pthread_join(pthread_t thread, void **result) { return pthread_join_floor(thread, result); }
HIDDEN int pthread_detach(pthread_t thread) { return pthread_detach_floor(thread); }
HIDDEN int pthread_once(pthread_once_t *once, void (*init)(void)) { return pthread_once_floor(once, init); }
HIDDEN int pthread_key_create(pthread_key_t *key, void (*destructor)(void *)) {
  return pthread_key_create_floor(key, destructor);
}
// libstdc++ takes a weak reference to this one to ask whether threads exist.
HIDDEN int __pthread_key_create(pthread_key_t *key, void (*destructor)(void *)) {
  return __pthread_key_create_floor(key, destructor);
}
HIDDEN int pthread_key_delete(pthread_key_t key) { return pthread_key_delete_floor(key); }
HIDDEN void *pthread_getspecific(pthread_key_t key) { return pthread_getspecific_floor(key); }
HIDDEN int pthread_setspecific(pthread_key_t key, const void *value) { return pthread_setspecific_floor(key, value); }
#endif

#if __GLIBC_PREREQ(2, 32)
PIN(pthread_sigmask);
HIDDEN int pthread_sigmask(int how, const sigset_t *set, sigset_t *old) { return pthread_sigmask_floor(how, set, old); }

// libstdc++ skips atomic reference counts while this says one thread; never
// claiming that is always correct.
HIDDEN char __libc_single_threaded = 0;
#endif

#if __GLIBC_PREREQ(2, 29)
PIN(exp);
HIDDEN double exp(double x) { return exp_floor(x); }
#endif

#if __GLIBC_PREREQ(2, 33)
// Before 2.33 these were inline wrappers around __xstat64; on x86-64 and
// arm64 glibc's struct stat64 is the kernel's struct stat.
HIDDEN int stat64(const char *path, struct stat64 *buf) {
  return (int)syscall(SYS_newfstatat, AT_FDCWD, path, buf, 0);
}
HIDDEN int fstat64(int fd, struct stat64 *buf) { return (int)syscall(SYS_fstat, fd, buf); }
#endif

#if __GLIBC_PREREQ(2, 35)
// libgcc's unwinder asks this for the .eh_frame_hdr of the object holding a
// return address when an exception is thrown; the loader's list of objects
// answers the same question.
struct object_search {
  uintptr_t address;
  struct dl_find_object *result;
};

static int search_object(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  struct object_search *search = data;
  uintptr_t low = UINTPTR_MAX, high = 0;
  const void *eh_frame = NULL;
  int holds_address = 0;
  for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
    uintptr_t start = info->dlpi_addr + segment->p_vaddr;
    if (segment->p_type == PT_GNU_EH_FRAME) eh_frame = (const void *)start;
    if (segment->p_type != PT_LOAD) continue;
    uintptr_t end = start + segment->p_memsz;
    if (start < low) low = start;
    if (end > high) high = end;
    if (search->address >= start && search->address < end) holds_address = 1;
  }
  if (!holds_address) return 0;
  search->result->dlfo_flags = 0;
  search->result->dlfo_map_start = (void *)low;
  search->result->dlfo_map_end = (void *)high;
  search->result->dlfo_link_map = NULL;
  search->result->dlfo_eh_frame = (void *)eh_frame;
  return 1;
}

HIDDEN int _dl_find_object(void *address, struct dl_find_object *result) {
  struct object_search search = {(uintptr_t)address, result};
  return dl_iterate_phdr(search_object, &search) ? 0 : -1;
}
#endif

#if __GLIBC_PREREQ(2, 36)
// libstdc++'s random_device is linked in whether or not it is used.
HIDDEN uint32_t arc4random(void) {
  uint32_t value;
  ssize_t got;
  do {
    got = getrandom(&value, sizeof value, 0);
  } while (got != (ssize_t)sizeof value && (got >= 0 || errno == EINTR));
  if (got != (ssize_t)sizeof value) abort();
  return value;
}
#endif

#endif
