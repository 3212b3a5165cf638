// SPDX-License-Identifier: GPL-2.0
// nettune drop monitor: counts kfree_skb events per (drop reason, location), per CPU.
//
// Attached as a BTF-enabled raw tracepoint (tp_btf/kfree_skb). On 6.x the tracepoint is
//   TP_PROTO(struct sk_buff *skb, void *location, enum skb_drop_reason reason, struct sock *rx_sk)
// so ctx[1] is the location and ctx[2] the reason: plain scalars, no struct field reads, so
// nothing depends on the layout of the trace event record (which changed across kernels).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// Just the kernel fields the namespace filter reads, relocated by name (CO-RE) at load time,
// so no vmlinux.h and no fixed offsets.
struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));
struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));
typedef struct {
	struct net *net;
} __attribute__((preserve_access_index)) possible_net_t;
struct net_device {
	possible_net_t nd_net;
} __attribute__((preserve_access_index));
struct sock_common {
	possible_net_t skc_net;
} __attribute__((preserve_access_index));
struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));
struct sk_buff {
	struct net_device *dev;
	struct sock *sk;
} __attribute__((preserve_access_index));

struct drop_key {
	__u64 location; // kernel text address that freed the skb
	__u32 reason;   // enum skb_drop_reason value
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct drop_key);
	__type(value, __u64);
} DROPS SEC(".maps");

// Index 0: events not counted because DROPS was full.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} DROPS_LOST SEC(".maps");

// Per CPU: the last (reason, location) seen and how many times in a row, not yet added to
// DROPS. A flood usually repeats one key, so most events cost one array access instead of a
// hash lookup. Userspace adds these pending counts when it reads.
struct pending {
	struct drop_key key;
	__u64 count;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pending);
} PENDING SEC(".maps");

// Index 0, per CPU: drops of the reasons the loader names in WATCH_A..C (autotune's wake-up
// reasons), so a poller reads one array slot instead of walking DROPS.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} WATCHED SEC(".maps");

// A notice (the time, 8 bytes) when a watched drop comes at least WAKE_GAP_NS after the
// last notice, on any CPU: a poller blocks on this ring buffer while drops are quiet instead
// of reading WATCHED every 50 ms. At most 20 notices a second.
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} WAKE SEC(".maps");

// Index 0: the time of the last notice in WAKE (shared by every CPU; a race between CPUs
// costs at most one extra notice).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} WAKE_LAST SEC(".maps");

#define WAKE_GAP_NS 50000000ULL

// Set by the loader from the running kernel's BTF (SKB_CONSUMED): not a drop.
volatile const __u32 SKIP_REASON = 0xffffffff;
// Set by the loader to count only skbs of one network namespace (its inode number); 0 = all.
volatile const __u32 NETNS_INUM = 0;
// Set by the loader: up to three reasons also counted in WATCHED; 0xffffffff = none.
volatile const __u32 WATCH_A = 0xffffffff;
volatile const __u32 WATCH_B = 0xffffffff;
volatile const __u32 WATCH_C = 0xffffffff;

// Inode number of the namespace of the skb's device, else of its socket; 0 when neither.
// tp_btf arguments are typed kernel pointers: plain loads (relocated by CO-RE, checked by the
// verifier, faults caught) instead of bpf_probe_read_kernel calls, which cost more per event.
static __always_inline __u32 skb_netns(struct sk_buff *skb)
{
	struct net_device *dev = skb->dev;
	struct sock *sk;

	if (dev)
		return dev->nd_net.net->ns.inum;
	sk = skb->sk;
	if (sk)
		return sk->__sk_common.skc_net.net->ns.inum;
	return 0;
}

// Add n to DROPS[key]; counts what does not fit in DROPS_LOST.
static __always_inline void flush(struct drop_key *key, __u64 n)
{
	__u64 *count;
	__u32 zero = 0;

	count = bpf_map_lookup_elem(&DROPS, key);
	if (count) {
		*count += n;
		return;
	}
	if (bpf_map_update_elem(&DROPS, key, &n, BPF_NOEXIST) == 0)
		return;
	count = bpf_map_lookup_elem(&DROPS, key);
	if (count) {
		*count += n;
		return;
	}
	count = bpf_map_lookup_elem(&DROPS_LOST, &zero);
	if (count)
		*count += n;
}

SEC("tp_btf/kfree_skb")
int kfree_skb(__u64 *ctx)
{
	struct drop_key key = {};
	struct pending *last;
	__u32 zero = 0;

	key.location = ctx[1];
	key.reason = (__u32)ctx[2];
	if (key.reason == SKIP_REASON)
		return 0;
	if (NETNS_INUM && skb_netns((struct sk_buff *)ctx[0]) != NETNS_INUM)
		return 0;
	if (key.reason == WATCH_A || key.reason == WATCH_B || key.reason == WATCH_C) {
		__u64 *watched = bpf_map_lookup_elem(&WATCHED, &zero);
		__u64 *notified = bpf_map_lookup_elem(&WAKE_LAST, &zero);

		if (watched)
			*watched += 1;
		if (notified) {
			__u64 now = bpf_ktime_get_ns();

			if (now - *notified >= WAKE_GAP_NS) {
				*notified = now;
				bpf_ringbuf_output(&WAKE, &now, sizeof(now), 0);
			}
		}
	}
	last = bpf_map_lookup_elem(&PENDING, &zero);
	if (!last)
		return 0;
	if (last->count && last->key.location == key.location && last->key.reason == key.reason) {
		last->count += 1;
		return 0;
	}
	if (last->count)
		flush(&last->key, last->count);
	last->key = key;
	last->count = 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
