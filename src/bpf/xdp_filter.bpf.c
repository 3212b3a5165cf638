// SPDX-License-Identifier: GPL-2.0
// nettune XDP early-drop filter: IPv4/IPv6 source deny lists (LPM tries) and an optional
// per-source TCP SYN rate limit (token bucket in an LRU hash; an IPv6 source is its /64),
// with per-CPU counters. Up to two VLAN tags (802.1Q, 802.1ad QinQ) are parsed.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_RULES 256
#define NSEC_PER_SEC 1000000000ULL
// Largest SYN rate (per second) the bucket takes: rate * NSEC_PER_SEC stays far below 2^64.
#define MAX_SYN_RATE 10000000ULL
// VLAN tags parsed before the IP header (QinQ: an 802.1ad tag, then an 802.1Q one).
#define MAX_VLAN_TAGS 2

struct lpm_v4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct lpm_v6 {
	__u32 prefixlen;
	__u8 addr[16];
};

// Source prefix -> rule index (into RULE_DROPS).
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v4);
	__type(value, __u32);
} DENY4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v6);
	__type(value, __u32);
} DENY6 SEC(".maps");

// Packets dropped per rule.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_RULES);
	__type(key, __u32);
	__type(value, __u64);
} RULE_DROPS SEC(".maps");

// 0 passed, 1 dropped (all causes), 2 dropped by the SYN rate limit.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} COUNTERS SEC(".maps");

// 0: SYNs per second allowed per source (0 = no limit).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} CONFIG SEC(".maps");

struct bucket {
	__u64 tokens; // in 1e-9 SYN units
	__u64 last_ns;
};

// Source address (IPv4 mapped into the first 4 bytes, rest zero, v6 in full) -> bucket.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct lpm_v6);
	__type(value, struct bucket);
} SYN_BUCKETS SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&COUNTERS, &idx);
	if (v)
		*v += 1;
}

static __always_inline int drop_rule(__u32 *rule)
{
	__u32 idx = *rule;
	__u64 *v = bpf_map_lookup_elem(&RULE_DROPS, &idx);
	if (v)
		*v += 1;
	count(1);
	return XDP_DROP;
}

// Returns 1 when this SYN is over the source's rate.
static __always_inline int syn_limited(struct lpm_v6 *src)
{
	__u32 zero = 0;
	__u64 *rate = bpf_map_lookup_elem(&CONFIG, &zero);
	__u64 now, cap, elapsed, r;
	struct bucket *b;

	if (!rate || *rate == 0)
		return 0;
	r = *rate;
	if (r > MAX_SYN_RATE)
		r = MAX_SYN_RATE;
	now = bpf_ktime_get_ns();
	cap = r * NSEC_PER_SEC; // burst: one second's worth
	b = bpf_map_lookup_elem(&SYN_BUCKETS, src);
	if (!b) {
		struct bucket fresh = { .tokens = cap - NSEC_PER_SEC, .last_ns = now };
		bpf_map_update_elem(&SYN_BUCKETS, src, &fresh, BPF_ANY);
		return 0;
	}
	elapsed = now - b->last_ns;
	if (elapsed > NSEC_PER_SEC)
		elapsed = NSEC_PER_SEC;
	b->tokens += elapsed * r;
	if (b->tokens > cap)
		b->tokens = cap;
	b->last_ns = now;
	if (b->tokens < NSEC_PER_SEC)
		return 1;
	b->tokens -= NSEC_PER_SEC;
	return 0;
}

static __always_inline int is_syn(void *l4, void *end)
{
	struct tcphdr *tcp = l4;
	if ((void *)(tcp + 1) > end)
		return 0;
	return tcp->syn && !tcp->ack;
}

SEC("xdp")
int xdp_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct lpm_v6 src = {};
	__u32 *rule;
	__u16 proto;
	void *l3;

	if ((void *)(eth + 1) > end)
		goto pass;
	proto = eth->h_proto;
	l3 = eth + 1;
#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		__u16 *vlan = l3;
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vlan + 2) > end)
			goto pass;
		proto = vlan[1];
		l3 = vlan + 2;
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		struct lpm_v4 key = { .prefixlen = 32 };
		if ((void *)(ip + 1) > end)
			goto pass;
		__builtin_memcpy(key.addr, &ip->saddr, 4);
		rule = bpf_map_lookup_elem(&DENY4, &key);
		if (rule)
			return drop_rule(rule);
		if (ip->protocol == IPPROTO_TCP && ip->ihl >= 5) {
			void *l4 = (void *)ip + ip->ihl * 4;
			if (is_syn(l4, end)) {
				__builtin_memcpy(src.addr, &ip->saddr, 4);
				src.prefixlen = 4;
				if (syn_limited(&src))
					goto syn_drop;
			}
		}
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		if ((void *)(ip6 + 1) > end)
			goto pass;
		src.prefixlen = 128;
		__builtin_memcpy(src.addr, &ip6->saddr, 16);
		rule = bpf_map_lookup_elem(&DENY6, &src);
		if (rule)
			return drop_rule(rule);
		// The SYN limit keys an IPv6 source by its /64: one host owns a whole /64 and could
		// otherwise rotate through 2^64 addresses, each with a fresh bucket.
		src.prefixlen = 16;
		__builtin_memset(src.addr + 8, 0, 8);
		if (ip6->nexthdr == IPPROTO_TCP && is_syn(ip6 + 1, end) && syn_limited(&src))
			goto syn_drop;
	}
pass:
	count(0);
	return XDP_PASS;
syn_drop:
	count(2);
	count(1);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
