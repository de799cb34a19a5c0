// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * VISP_ASAN: 1 in a build with AddressSanitizer (gcc's macro, or clang's
 * feature test), else 0. What visp does only to save page faults (SQLite
 * in one huge page, leaving with _exit) is left out of such builds, so that
 * ASan watches every block and LeakSanitizer runs at exit.
 */
#ifndef VISP_ASAN_H
#define VISP_ASAN_H

#if defined(__SANITIZE_ADDRESS__)
#define VISP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VISP_ASAN 1
#endif
#endif
#ifndef VISP_ASAN
#define VISP_ASAN 0
#endif

#endif
