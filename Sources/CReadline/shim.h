#ifndef CREADLINE_SHIM_H
#define CREADLINE_SHIM_H
// readline's headers use FILE without including stdio.h themselves.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <poll.h>
#include <unistd.h>
#include <readline/readline.h>
#include <readline/history.h>

// Accessors so that Swift never touches readline's C globals (they are not concurrency-safe
// in Swift 6). Only LineEditor.swift imports this module, so each `static` below exists once.

/// Word lists for completion: 0 = command names, 1 = every note id the shell has seen.
typedef struct {
    char **words;
    int count;
} notes_rl_word_list;

static inline notes_rl_word_list *notes_rl_lists(void) {
    static notes_rl_word_list lists[2] = {{NULL, 0}, {NULL, 0}};
    return lists;
}

/// The read end of a pipe; a byte on it means "Ctrl-C: clear the line".
static inline int *notes_rl_interrupt_fd(void) {
    static int fd = -1;
    return &fd;
}

/// Replaces a completion list with the newline-separated words of `joined`.
static inline void notes_rl_set_words(int which, const char *joined) {
    if (which < 0 || which > 1) return;
    notes_rl_word_list *list = &notes_rl_lists()[which];
    for (int i = 0; i < list->count; i++) free(list->words[i]);
    free(list->words);
    list->words = NULL;
    list->count = 0;
    if (joined == NULL || *joined == '\0') return;
    int capacity = 1;
    for (const char *p = joined; *p; p++) if (*p == '\n') capacity++;
    list->words = calloc((size_t)capacity, sizeof(char *));
    if (list->words == NULL) return;
    const char *start = joined;
    for (;;) {
        const char *end = strchr(start, '\n');
        size_t length = end ? (size_t)(end - start) : strlen(start);
        if (length > 0) {
            char *word = malloc(length + 1);
            if (word == NULL) break;
            memcpy(word, start, length);
            word[length] = '\0';
            list->words[list->count++] = word;
        }
        if (end == NULL) break;
        start = end + 1;
    }
}

static inline int *notes_rl_completion_state(void) {
    // [0]: which list, [1]: next index
    static int state[2] = {0, 0};
    return state;
}

static inline char *notes_rl_generator(const char *text, int state) {
    int *s = notes_rl_completion_state();
    if (state == 0) s[1] = 0;
    notes_rl_word_list *list = &notes_rl_lists()[s[0]];
    size_t length = strlen(text);
    while (s[1] < list->count) {
        const char *word = list->words[s[1]++];
        // Any case: ids show in upper case, and people type them in lower case.
        if (strncasecmp(word, text, length) == 0) return strdup(word);
    }
    return NULL;
}

static inline char **notes_rl_attempted_completion(const char *text, int start, int end) {
    (void)end;
    // Command names for the first word (and after `help`), note ids elsewhere.
    int first = 0;
    while (first < start && (rl_line_buffer[first] == ' ' || rl_line_buffer[first] == '\t')) first++;
    int which = (first >= start) ? 0 : 1;
    if (which == 1 && strncmp(rl_line_buffer + first, "help ", 5) == 0) which = 0;
    notes_rl_completion_state()[0] = which;
    rl_attempted_completion_over = 1;  // never fall back to file names
    return rl_completion_matches(text, notes_rl_generator);
}

/// Reads one key for readline, waiting on the terminal and on the interrupt pipe at once:
/// an interrupt clears the line being edited (Ctrl-C), as a shell does.
static inline int notes_rl_getc(FILE *stream) {
    int input = fileno(stream);
    for (;;) {
        int interrupt = *notes_rl_interrupt_fd();
        struct pollfd fds[2] = {{input, POLLIN, 0}, {interrupt, POLLIN, 0}};
        int ready = poll(fds, interrupt >= 0 ? 2 : 1, -1);
        if (ready < 0) {
            if (errno == EINTR) continue;
            return EOF;
        }
        if (interrupt >= 0 && (fds[1].revents & POLLIN)) {
            char drain[64];
            (void)read(interrupt, drain, sizeof drain);
            rl_free_line_state();
            rl_replace_line("", 0);
            fputs("^C", rl_outstream);
            rl_crlf();
            rl_on_new_line();
            rl_redisplay();
            continue;
        }
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            unsigned char c;
            ssize_t n = read(input, &c, 1);
            if (n == 1) return c;
            if (n < 0 && errno == EINTR) continue;
            return EOF;
        }
    }
}

/// One-time set-up: our own key reader and completion, no signal handlers from readline
/// (the Swift side owns SIGINT), and a name for ~/.inputrc conditionals.
static inline void notes_rl_setup(int interrupt_fd) {
    *notes_rl_interrupt_fd() = interrupt_fd;
    rl_readline_name = "notes";
    rl_catch_signals = 0;
    rl_getc_function = notes_rl_getc;
    rl_attempted_completion_function = notes_rl_attempted_completion;
    using_history();
}

/// Drops interrupts that arrived while no line was being edited.
static inline void notes_rl_drain_interrupts(void) {
    int fd = *notes_rl_interrupt_fd();
    if (fd < 0) return;
    struct pollfd p = {fd, POLLIN, 0};
    char drain[64];
    while (poll(&p, 1, 0) > 0 && (p.revents & POLLIN)) {
        if (read(fd, drain, sizeof drain) <= 0) break;
    }
}

#endif
