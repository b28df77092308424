/* ledger.c - the ledger of ledger.h: a hash map from task id to an entry in a pool, the
 * entries of each worker on a doubly-linked list (so a dead worker's tasks are found without
 * a scan), and a second map of loss counters that only tasks lost at least once enter.
 */
#include "ledger.h"

#include <stdlib.h>

#include "util.h"

#define NONE UINT32_MAX /* an empty map slot, the end of a list */

/* Open addressing with linear probing and backward-shift deletion: no tombstones, so a map
 * that sees millions of insertions and deletions of ever new ids stays as fast as when new. */
struct slot {
    uint64_t key;
    uint32_t val; /* NONE: empty */
};

struct map {
    struct slot *s;
    size_t cap, len; /* cap a power of two, len <= cap / 2 */
    unsigned shift;  /* 64 - log2(cap) */
};

struct entry {
    struct tf_ledger_task t;
    int32_t w;
    uint32_t prev, next; /* on w's list; next is also the free list */
};

struct tf_ledger {
    int nworkers;
    bool track_starts;
    struct map where;  /* id -> entry index */
    struct map losses; /* id -> workers lost with, only ids lost at least once */
    struct entry *e;
    uint32_t ne, cape, free_head;
    uint32_t *head; /* per worker: first entry, NONE */
    size_t *count;  /* per worker: entries */
    size_t total;
};

/* Fibonacci hashing: consecutive ids (the common case) spread evenly over the table. */
static size_t home(const struct map *m, uint64_t key)
{
    return (size_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> m->shift);
}

static void map_init(struct map *m, size_t cap)
{
    m->cap = cap;
    m->len = 0;
    m->shift = 64;
    for (size_t c = cap; c > 1; c >>= 1)
        m->shift--;
    m->s = tf_xmalloc(cap * sizeof *m->s);
    for (size_t i = 0; i < cap; i++)
        m->s[i].val = NONE;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t map_probe(const struct map *m, uint64_t key)
{
    size_t mask = m->cap - 1, i = home(m, key);
    while (m->s[i].val != NONE && m->s[i].key != key)
        i = (i + 1) & mask;
    return i;
}

static void map_grow(struct map *m)
{
    struct map old = *m;
    map_init(m, old.cap * 2);
    for (size_t i = 0; i < old.cap; i++)
        if (old.s[i].val != NONE) {
            m->s[map_probe(m, old.s[i].key)] = old.s[i];
            m->len++;
        }
    free(old.s);
}

static uint32_t map_get(const struct map *m, uint64_t key)
{
    return m->s[map_probe(m, key)].val;
}

static void map_put(struct map *m, uint64_t key, uint32_t val)
{
    if (2 * (m->len + 1) > m->cap)
        map_grow(m);
    size_t i = map_probe(m, key);
    m->len += m->s[i].val == NONE;
    m->s[i] = (struct slot){key, val};
}

static void map_del(struct map *m, uint64_t key)
{
    size_t mask = m->cap - 1, i = map_probe(m, key);
    if (m->s[i].val == NONE)
        return;
    m->len--;
    /* Pull back every later key of the run that may sit at i: each stays reachable from its
     * home slot without a gap on the way. */
    for (size_t j = (i + 1) & mask; m->s[j].val != NONE; j = (j + 1) & mask) {
        size_t k = home(m, m->s[j].key);
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            m->s[i] = m->s[j];
            i = j;
        }
    }
    m->s[i].val = NONE;
}

struct tf_ledger *tf_ledger_new(int nworkers)
{
    struct tf_ledger *l = tf_xcalloc(1, sizeof *l);
    l->nworkers = nworkers > 0 ? nworkers : 1;
    map_init(&l->where, 1024);
    map_init(&l->losses, 16);
    l->head = tf_xmalloc((size_t)l->nworkers * sizeof *l->head);
    l->count = tf_xcalloc((size_t)l->nworkers, sizeof *l->count);
    for (int w = 0; w < l->nworkers; w++)
        l->head[w] = NONE;
    l->free_head = NONE;
    return l;
}

void tf_ledger_free(struct tf_ledger *l)
{
    if (l == NULL)
        return;
    free(l->where.s);
    free(l->losses.s);
    free(l->e);
    free(l->head);
    free(l->count);
    free(l);
}

void tf_ledger_track_starts(struct tf_ledger *l)
{
    l->track_starts = true;
}

static uint32_t entry_new(struct tf_ledger *l)
{
    if (l->free_head != NONE) {
        uint32_t i = l->free_head;
        l->free_head = l->e[i].next;
        return i;
    }
    if (l->ne == l->cape) {
        l->cape = l->cape ? 2 * l->cape : 256;
        l->e = tf_xrealloc(l->e, (size_t)l->cape * sizeof *l->e);
    }
    return l->ne++;
}

/* Take entry i off its worker's list and the map, back to the free list. */
static void entry_drop(struct tf_ledger *l, uint32_t i)
{
    struct entry *x = &l->e[i];
    if (x->prev != NONE)
        l->e[x->prev].next = x->next;
    else
        l->head[x->w] = x->next;
    if (x->next != NONE)
        l->e[x->next].prev = x->prev;
    l->count[x->w]--;
    l->total--;
    map_del(&l->where, x->t.id);
    x->next = l->free_head;
    l->free_head = i;
}

static bool valid_worker(const struct tf_ledger *l, int w)
{
    return w >= 0 && w < l->nworkers;
}

void tf_ledger_assigned(struct tf_ledger *l, int w, const struct tf_ledger_task *t)
{
    if (!valid_worker(l, w))
        return;
    uint32_t old = map_get(&l->where, t->id);
    if (old != NONE)
        entry_drop(l, old);
    uint32_t i = entry_new(l);
    l->e[i] = (struct entry){.t = *t, .w = w, .prev = NONE, .next = l->head[w]};
    l->e[i].t.started = l->e[i].t.ended = false;
    if (l->head[w] != NONE)
        l->e[l->head[w]].prev = i;
    l->head[w] = i;
    l->count[w]++;
    l->total++;
    map_put(&l->where, t->id, i);
}

/* The entry of id when it is outstanding at w, else NONE. */
static uint32_t held_by(const struct tf_ledger *l, int w, uint64_t id)
{
    uint32_t i = map_get(&l->where, id);
    return i != NONE && l->e[i].w == w ? i : NONE;
}

bool tf_ledger_result(struct tf_ledger *l, int w, uint64_t id)
{
    uint32_t i = held_by(l, w, id);
    if (i == NONE)
        return false;
    entry_drop(l, i);
    return true;
}

bool tf_ledger_released(struct tf_ledger *l, int w, uint64_t id)
{
    return tf_ledger_result(l, w, id); /* the same rule; a separate name says why */
}

bool tf_ledger_started(struct tf_ledger *l, int w, uint64_t id)
{
    uint32_t i = held_by(l, w, id);
    if (i == NONE)
        return false;
    l->e[i].t.started = true;
    return true;
}

bool tf_ledger_ended(struct tf_ledger *l, int w, uint64_t id)
{
    uint32_t i = held_by(l, w, id);
    if (i == NONE || !l->e[i].t.started)
        return false;
    l->e[i].t.ended = true;
    return true;
}

static int by_id(const void *a, const void *b)
{
    uint64_t x = ((const struct tf_ledger_task *)a)->id, y = ((const struct tf_ledger_task *)b)->id;
    return (x > y) - (x < y);
}

static void count_loss(struct tf_ledger *l, uint64_t id)
{
    uint32_t n = map_get(&l->losses, id);
    map_put(&l->losses, id, n == NONE ? 1 : n + 1);
}

size_t tf_ledger_take_lost(struct tf_ledger *l, int w, struct tf_ledger_task **tasks)
{
    *tasks = NULL;
    if (!valid_worker(l, w) || l->count[w] == 0)
        return 0;
    size_t n = 0;
    struct tf_ledger_task *v = tf_xmalloc(l->count[w] * sizeof *v);
    while (l->head[w] != NONE) {
        uint32_t i = l->head[w];
        v[n++] = l->e[i].t;
        if (!l->track_starts || (l->e[i].t.started && !l->e[i].t.ended))
            count_loss(l, l->e[i].t.id);
        entry_drop(l, i);
    }
    qsort(v, n, sizeof *v, by_id);
    *tasks = v;
    return n;
}

uint32_t tf_ledger_losses(const struct tf_ledger *l, uint64_t id)
{
    uint32_t n = map_get(&l->losses, id);
    return n == NONE ? 0 : n;
}

size_t tf_ledger_outstanding(const struct tf_ledger *l, int w)
{
    return valid_worker(l, w) ? l->count[w] : 0;
}

size_t tf_ledger_total(const struct tf_ledger *l)
{
    return l->total;
}

int tf_ledger_holder(const struct tf_ledger *l, uint64_t id)
{
    uint32_t i = map_get(&l->where, id);
    return i == NONE ? -1 : l->e[i].w;
}
