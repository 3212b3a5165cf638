# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_nettune_global_optspecs
    string join \n proc-root= sys-root= netns= host-only json color= v/verbose q/quiet h/help V/version
end

function __fish_nettune_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_nettune_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_nettune_using_subcommand
    set -l cmd (__fish_nettune_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c nettune -n "__fish_nettune_needs_command" -l proc-root -d 'Read procfs from here' -r -F
complete -c nettune -n "__fish_nettune_needs_command" -l sys-root -d 'Read sysfs from here' -r -F
complete -c nettune -n "__fish_nettune_needs_command" -l netns -d 'Read per-namespace counters and sysctls inside this network namespace (a name under /run/netns or a path such as /proc/PID/ns/net)' -r
complete -c nettune -n "__fish_nettune_needs_command" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nettune -n "__fish_nettune_needs_command" -l host-only -d 'Read only the host\'s network namespace. By default, as root on the live host, every other namespace (containers, pods, `ip netns`) is read as well'
complete -c nettune -n "__fish_nettune_needs_command" -l json -d 'Machine-readable JSON on stdout; logs go to stderr'
complete -c nettune -n "__fish_nettune_needs_command" -s v -l verbose -d 'More logging (repeat for more)'
complete -c nettune -n "__fish_nettune_needs_command" -s q -l quiet -d 'Less logging'
complete -c nettune -n "__fish_nettune_needs_command" -s h -l help -d 'Print help'
complete -c nettune -n "__fish_nettune_needs_command" -s V -l version -d 'Print version'
complete -c nettune -n "__fish_nettune_needs_command" -f -a "check" -d 'Sample a window, name the cause of packet loss or delay, and the fix (the main job)'
complete -c nettune -n "__fish_nettune_needs_command" -f -a "snapshot" -d 'Save a capture (host facts + two snapshots) to JSON for offline analysis'
complete -c nettune -n "__fish_nettune_needs_command" -f -a "tune" -d 'Print the plan that fixes the findings; `--apply` applies it as one transaction'
complete -c nettune -n "__fish_nettune_needs_command" -f -a "rollback" -d 'Undo an applied transaction exactly (`--list` shows them)'
complete -c nettune -n "__fish_nettune_needs_command" -f -a "lab" -d 'Reproduce a fault in throwaway namespaces and run the whole loop on it'
complete -c nettune -n "__fish_nettune_needs_command" -f -a "watch" -d 'Live view of rates per CPU / device / protocol and the active findings'
complete -c nettune -n "__fish_nettune_needs_command" -f -a "export" -d 'Prometheus exporter (HTTP /metrics) or node_exporter textfile output'
complete -c nettune -n "__fish_nettune_needs_command" -f -a "drops" -d 'Kernel drop reasons and locations via eBPF (`skb:kfree_skb`)'
complete -c nettune -n "__fish_nettune_needs_command" -f -a "xdp" -d 'XDP early-drop filter: attach IFACE [--deny CIDR].. [--syn-rate N] | detach | stats'
complete -c nettune -n "__fish_nettune_needs_command" -f -a "autotune" -d 'Closed-loop daemon: fix what it measures, bounded and verified (`status`, `unpin KEY`)'
complete -c nettune -n "__fish_nettune_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nettune -n "__fish_nettune_using_subcommand check" -l interval -d 'Length of the sampling window' -r
complete -c nettune -n "__fish_nettune_using_subcommand check" -l from -d 'Analyse a saved capture (`nettune snapshot -o FILE`) instead of the live host' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand check" -l archive -d 'Analyse a support archive (a sosreport, a supportconfig or a copied root; a directory or a .tar[.gz|.xz|.bz2|.zst]): counters since boot, the window is the uptime' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand check" -l profile -d 'Tuning profile the findings are judged against (a shipped profile\'s name or a FILE.toml; its `intent` is what the rules use)' -r
complete -c nettune -n "__fish_nettune_using_subcommand check" -l link-speed -d 'Link speed in Gbit/s, when ethtool cannot tell (virtual NICs)' -r
complete -c nettune -n "__fish_nettune_using_subcommand check" -l rtt -d 'Round-trip time in ms to size TCP buffers for (default: measured from live sockets)' -r
complete -c nettune -n "__fish_nettune_using_subcommand check" -l format -d 'Output format (`--json` is `--format json`); `nagios`: one monitoring-plugin line, `NETTUNE STATUS - summary | \'label\'=value;warn;crit;min ...`, same exit codes' -r -f -a "text\t'The human report'
json\t'`nettune.check/v1`'
nagios\t'The monitoring-plugin line with perfdata'"
complete -c nettune -n "__fish_nettune_using_subcommand check" -l proc-root -d 'Read procfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand check" -l sys-root -d 'Read sysfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand check" -l netns -d 'Read per-namespace counters and sysctls inside this network namespace (a name under /run/netns or a path such as /proc/PID/ns/net)' -r
complete -c nettune -n "__fish_nettune_using_subcommand check" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nettune -n "__fish_nettune_using_subcommand check" -l since-boot -d 'Read the kernel log from boot on (every record the kernel still holds), not only the lines written during the window'
complete -c nettune -n "__fish_nettune_using_subcommand check" -l host-only -d 'Read only the host\'s network namespace. By default, as root on the live host, every other namespace (containers, pods, `ip netns`) is read as well'
complete -c nettune -n "__fish_nettune_using_subcommand check" -l json -d 'Machine-readable JSON on stdout; logs go to stderr'
complete -c nettune -n "__fish_nettune_using_subcommand check" -s v -l verbose -d 'More logging (repeat for more)'
complete -c nettune -n "__fish_nettune_using_subcommand check" -s q -l quiet -d 'Less logging'
complete -c nettune -n "__fish_nettune_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c nettune -n "__fish_nettune_using_subcommand snapshot" -l interval -d 'Time between the two snapshots' -r
complete -c nettune -n "__fish_nettune_using_subcommand snapshot" -s o -l output -d 'Write the capture to this file instead of stdout' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand snapshot" -l archive -d 'Turn a support archive (sosreport, supportconfig, copied root; directory or tarball) into a capture instead of sampling the live host' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand snapshot" -l proc-root -d 'Read procfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand snapshot" -l sys-root -d 'Read sysfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand snapshot" -l netns -d 'Read per-namespace counters and sysctls inside this network namespace (a name under /run/netns or a path such as /proc/PID/ns/net)' -r
complete -c nettune -n "__fish_nettune_using_subcommand snapshot" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nettune -n "__fish_nettune_using_subcommand snapshot" -l host-only -d 'Read only the host\'s network namespace. By default, as root on the live host, every other namespace (containers, pods, `ip netns`) is read as well'
complete -c nettune -n "__fish_nettune_using_subcommand snapshot" -l json -d 'Machine-readable JSON on stdout; logs go to stderr'
complete -c nettune -n "__fish_nettune_using_subcommand snapshot" -s v -l verbose -d 'More logging (repeat for more)'
complete -c nettune -n "__fish_nettune_using_subcommand snapshot" -s q -l quiet -d 'Less logging'
complete -c nettune -n "__fish_nettune_using_subcommand snapshot" -s h -l help -d 'Print help'
complete -c nettune -n "__fish_nettune_using_subcommand tune" -l interval -d 'Length of the sampling window the plan is based on' -r
complete -c nettune -n "__fish_nettune_using_subcommand tune" -l from -d 'Plan from a saved capture (dry run only)' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand tune" -l plan -d 'Apply these changes instead of sampling: a JSON array of changes (`{"kind", "target", "current", "proposed", "finding"}`) or a `tune --json` report' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand tune" -l only -d 'Only act on these findings (ids, or areas such as `softnet`), comma-separated' -r
complete -c nettune -n "__fish_nettune_using_subcommand tune" -l profile -d 'Tuning profile: balanced, throughput, latency, web-gateway, stream-ingest, cdn, or a FILE.toml' -r
complete -c nettune -n "__fish_nettune_using_subcommand tune" -l verify -d 'After applying, measure a window this long; roll back if the targeted findings remain' -r
complete -c nettune -n "__fish_nettune_using_subcommand tune" -l persist-root -d 'Root directory for `--persist` (default `/`)' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand tune" -l proc-root -d 'Read procfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand tune" -l sys-root -d 'Read sysfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand tune" -l netns -d 'Read per-namespace counters and sysctls inside this network namespace (a name under /run/netns or a path such as /proc/PID/ns/net)' -r
complete -c nettune -n "__fish_nettune_using_subcommand tune" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nettune -n "__fish_nettune_using_subcommand tune" -l apply -d 'Apply the plan as one transaction (the default is a dry run)'
complete -c nettune -n "__fish_nettune_using_subcommand tune" -s y -l yes -d 'Do not ask for confirmation'
complete -c nettune -n "__fish_nettune_using_subcommand tune" -l force -d 'Apply changes the safety checks refuse (syncookies/timestamps off, lowering values)'
complete -c nettune -n "__fish_nettune_using_subcommand tune" -l persist -d 'Also write the boot-time configuration (sysctl.d, systemd .link, a oneshot unit)'
complete -c nettune -n "__fish_nettune_using_subcommand tune" -l host-only -d 'Read only the host\'s network namespace. By default, as root on the live host, every other namespace (containers, pods, `ip netns`) is read as well'
complete -c nettune -n "__fish_nettune_using_subcommand tune" -l json -d 'Machine-readable JSON on stdout; logs go to stderr'
complete -c nettune -n "__fish_nettune_using_subcommand tune" -s v -l verbose -d 'More logging (repeat for more)'
complete -c nettune -n "__fish_nettune_using_subcommand tune" -s q -l quiet -d 'Less logging'
complete -c nettune -n "__fish_nettune_using_subcommand tune" -s h -l help -d 'Print help'
complete -c nettune -n "__fish_nettune_using_subcommand rollback" -l proc-root -d 'Read procfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand rollback" -l sys-root -d 'Read sysfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand rollback" -l netns -d 'Read per-namespace counters and sysctls inside this network namespace (a name under /run/netns or a path such as /proc/PID/ns/net)' -r
complete -c nettune -n "__fish_nettune_using_subcommand rollback" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nettune -n "__fish_nettune_using_subcommand rollback" -l list -d 'List the journaled transactions'
complete -c nettune -n "__fish_nettune_using_subcommand rollback" -l last -d 'Roll back the newest transaction that is not rolled back yet'
complete -c nettune -n "__fish_nettune_using_subcommand rollback" -l force -d 'Restore even over values changed since the transaction wrote them (by an administrator or a newer transaction still applied); without it such a rollback is refused with nothing touched'
complete -c nettune -n "__fish_nettune_using_subcommand rollback" -l host-only -d 'Read only the host\'s network namespace. By default, as root on the live host, every other namespace (containers, pods, `ip netns`) is read as well'
complete -c nettune -n "__fish_nettune_using_subcommand rollback" -l json -d 'Machine-readable JSON on stdout; logs go to stderr'
complete -c nettune -n "__fish_nettune_using_subcommand rollback" -s v -l verbose -d 'More logging (repeat for more)'
complete -c nettune -n "__fish_nettune_using_subcommand rollback" -s q -l quiet -d 'Less logging'
complete -c nettune -n "__fish_nettune_using_subcommand rollback" -s h -l help -d 'Print help'
complete -c nettune -n "__fish_nettune_using_subcommand lab; and not __fish_seen_subcommand_from list run help" -l proc-root -d 'Read procfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand lab; and not __fish_seen_subcommand_from list run help" -l sys-root -d 'Read sysfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand lab; and not __fish_seen_subcommand_from list run help" -l netns -d 'Read per-namespace counters and sysctls inside this network namespace (a name under /run/netns or a path such as /proc/PID/ns/net)' -r
complete -c nettune -n "__fish_nettune_using_subcommand lab; and not __fish_seen_subcommand_from list run help" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nettune -n "__fish_nettune_using_subcommand lab; and not __fish_seen_subcommand_from list run help" -l host-only -d 'Read only the host\'s network namespace. By default, as root on the live host, every other namespace (containers, pods, `ip netns`) is read as well'
complete -c nettune -n "__fish_nettune_using_subcommand lab; and not __fish_seen_subcommand_from list run help" -l json -d 'Machine-readable JSON on stdout; logs go to stderr'
complete -c nettune -n "__fish_nettune_using_subcommand lab; and not __fish_seen_subcommand_from list run help" -s v -l verbose -d 'More logging (repeat for more)'
complete -c nettune -n "__fish_nettune_using_subcommand lab; and not __fish_seen_subcommand_from list run help" -s q -l quiet -d 'Less logging'
complete -c nettune -n "__fish_nettune_using_subcommand lab; and not __fish_seen_subcommand_from list run help" -s h -l help -d 'Print help'
complete -c nettune -n "__fish_nettune_using_subcommand lab; and not __fish_seen_subcommand_from list run help" -f -a "list" -d 'List the scenarios (name and one-line description)'
complete -c nettune -n "__fish_nettune_using_subcommand lab; and not __fish_seen_subcommand_from list run help" -f -a "run" -d 'Run scenarios: fault, traffic, check, apply the plan, re-measure, clean up'
complete -c nettune -n "__fish_nettune_using_subcommand lab; and not __fish_seen_subcommand_from list run help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from list" -l proc-root -d 'Read procfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from list" -l sys-root -d 'Read sysfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from list" -l netns -d 'Read per-namespace counters and sysctls inside this network namespace (a name under /run/netns or a path such as /proc/PID/ns/net)' -r
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from list" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from list" -l host-only -d 'Read only the host\'s network namespace. By default, as root on the live host, every other namespace (containers, pods, `ip netns`) is read as well'
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from list" -l json -d 'Machine-readable JSON on stdout; logs go to stderr'
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More logging (repeat for more)'
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Less logging'
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from run" -l report -d 'Write a self-contained HTML report with charts here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from run" -l window -d 'Length of each measuring window (before and after tuning)' -r
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from run" -l proc-root -d 'Read procfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from run" -l sys-root -d 'Read sysfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from run" -l netns -d 'Read per-namespace counters and sysctls inside this network namespace (a name under /run/netns or a path such as /proc/PID/ns/net)' -r
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from run" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from run" -l all -d 'Run every scenario'
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from run" -l host-only -d 'Read only the host\'s network namespace. By default, as root on the live host, every other namespace (containers, pods, `ip netns`) is read as well'
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from run" -l json -d 'Machine-readable JSON on stdout; logs go to stderr'
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from run" -s v -l verbose -d 'More logging (repeat for more)'
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from run" -s q -l quiet -d 'Less logging'
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from run" -s h -l help -d 'Print help'
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the scenarios (name and one-line description)'
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "run" -d 'Run scenarios: fault, traffic, check, apply the plan, re-measure, clean up'
complete -c nettune -n "__fish_nettune_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nettune -n "__fish_nettune_using_subcommand watch" -l interval -d 'Refresh interval (and window of the rates)' -r
complete -c nettune -n "__fish_nettune_using_subcommand watch" -l count -d 'Stop after this many refreshes (default: run until quit)' -r
complete -c nettune -n "__fish_nettune_using_subcommand watch" -l proc-root -d 'Read procfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand watch" -l sys-root -d 'Read sysfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand watch" -l netns -d 'Read per-namespace counters and sysctls inside this network namespace (a name under /run/netns or a path such as /proc/PID/ns/net)' -r
complete -c nettune -n "__fish_nettune_using_subcommand watch" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nettune -n "__fish_nettune_using_subcommand watch" -l host-only -d 'Read only the host\'s network namespace. By default, as root on the live host, every other namespace (containers, pods, `ip netns`) is read as well'
complete -c nettune -n "__fish_nettune_using_subcommand watch" -l json -d 'Machine-readable JSON on stdout; logs go to stderr'
complete -c nettune -n "__fish_nettune_using_subcommand watch" -s v -l verbose -d 'More logging (repeat for more)'
complete -c nettune -n "__fish_nettune_using_subcommand watch" -s q -l quiet -d 'Less logging'
complete -c nettune -n "__fish_nettune_using_subcommand watch" -s h -l help -d 'Print help'
complete -c nettune -n "__fish_nettune_using_subcommand export" -l listen -d 'Address to serve /metrics on' -r
complete -c nettune -n "__fish_nettune_using_subcommand export" -l textfile -d 'Write node_exporter textfile output to PATH (atomically) once and exit, instead of serving HTTP. The findings cover a window of --interval' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand export" -l interval -d 'Longest a collection is reused across scrapes (HTTP: counters are never older than this; while scrapes arrive a background thread collects every 3/4 of it, so scrapes do not wait for collection; 0ms collects on every scrape), or the window of the findings (--textfile)' -r
complete -c nettune -n "__fish_nettune_using_subcommand export" -l workers -d 'HTTP worker threads (concurrent connections served)' -r
complete -c nettune -n "__fish_nettune_using_subcommand export" -l max-netns -d 'Most network namespaces (besides the host\'s) exposed with their own `netns` label: those with the most traffic and drops over the window; the rest are summed into `netns="other"`' -r
complete -c nettune -n "__fish_nettune_using_subcommand export" -l proc-root -d 'Read procfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand export" -l sys-root -d 'Read sysfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand export" -l netns -d 'Read per-namespace counters and sysctls inside this network namespace (a name under /run/netns or a path such as /proc/PID/ns/net)' -r
complete -c nettune -n "__fish_nettune_using_subcommand export" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nettune -n "__fish_nettune_using_subcommand export" -l host-only -d 'Read only the host\'s network namespace. By default, as root on the live host, every other namespace (containers, pods, `ip netns`) is read as well'
complete -c nettune -n "__fish_nettune_using_subcommand export" -l json -d 'Machine-readable JSON on stdout; logs go to stderr'
complete -c nettune -n "__fish_nettune_using_subcommand export" -s v -l verbose -d 'More logging (repeat for more)'
complete -c nettune -n "__fish_nettune_using_subcommand export" -s q -l quiet -d 'Less logging'
complete -c nettune -n "__fish_nettune_using_subcommand export" -s h -l help -d 'Print help'
complete -c nettune -n "__fish_nettune_using_subcommand drops" -l duration -d 'How long to count (Ctrl-C ends the window early and still prints)' -r
complete -c nettune -n "__fish_nettune_using_subcommand drops" -l top -d 'Locations shown per reason in the table' -r
complete -c nettune -n "__fish_nettune_using_subcommand drops" -l proc-root -d 'Read procfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand drops" -l sys-root -d 'Read sysfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand drops" -l netns -d 'Read per-namespace counters and sysctls inside this network namespace (a name under /run/netns or a path such as /proc/PID/ns/net)' -r
complete -c nettune -n "__fish_nettune_using_subcommand drops" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nettune -n "__fish_nettune_using_subcommand drops" -l host-only -d 'Read only the host\'s network namespace. By default, as root on the live host, every other namespace (containers, pods, `ip netns`) is read as well'
complete -c nettune -n "__fish_nettune_using_subcommand drops" -l json -d 'Machine-readable JSON on stdout; logs go to stderr'
complete -c nettune -n "__fish_nettune_using_subcommand drops" -s v -l verbose -d 'More logging (repeat for more)'
complete -c nettune -n "__fish_nettune_using_subcommand drops" -s q -l quiet -d 'Less logging'
complete -c nettune -n "__fish_nettune_using_subcommand drops" -s h -l help -d 'Print help'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and not __fish_seen_subcommand_from attach detach stats help" -l proc-root -d 'Read procfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and not __fish_seen_subcommand_from attach detach stats help" -l sys-root -d 'Read sysfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and not __fish_seen_subcommand_from attach detach stats help" -l netns -d 'Read per-namespace counters and sysctls inside this network namespace (a name under /run/netns or a path such as /proc/PID/ns/net)' -r
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and not __fish_seen_subcommand_from attach detach stats help" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and not __fish_seen_subcommand_from attach detach stats help" -l host-only -d 'Read only the host\'s network namespace. By default, as root on the live host, every other namespace (containers, pods, `ip netns`) is read as well'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and not __fish_seen_subcommand_from attach detach stats help" -l json -d 'Machine-readable JSON on stdout; logs go to stderr'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and not __fish_seen_subcommand_from attach detach stats help" -s v -l verbose -d 'More logging (repeat for more)'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and not __fish_seen_subcommand_from attach detach stats help" -s q -l quiet -d 'Less logging'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and not __fish_seen_subcommand_from attach detach stats help" -s h -l help -d 'Print help'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and not __fish_seen_subcommand_from attach detach stats help" -f -a "attach" -d 'Attach the filter to IFACE (native XDP where the driver supports it, generic otherwise)'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and not __fish_seen_subcommand_from attach detach stats help" -f -a "detach" -d 'Detach nettune\'s filter from IFACE'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and not __fish_seen_subcommand_from attach detach stats help" -f -a "stats" -d 'Print the filter\'s counters on IFACE'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and not __fish_seen_subcommand_from attach detach stats help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from attach" -l deny -d 'Drop packets whose source is in this prefix (IPv4 or IPv6; repeat for more)' -r
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from attach" -l syn-rate -d 'Drop TCP SYNs beyond N per second (1..=10000000) from any one source address (an IPv6 source is its /64)' -r
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from attach" -l mode -d 'Force native (driver) or generic (SKB) XDP; default: native, else generic' -r -f -a "native\t'In the driver (native XDP)'
generic\t'In the generic stack path (SKB mode), e.g. on drivers without native XDP'"
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from attach" -l proc-root -d 'Read procfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from attach" -l sys-root -d 'Read sysfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from attach" -l netns -d 'Read per-namespace counters and sysctls inside this network namespace (a name under /run/netns or a path such as /proc/PID/ns/net)' -r
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from attach" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from attach" -l force -d 'Accept a deny rule that covers a whole address family (`0.0.0.0/0`, `::/0`)'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from attach" -l host-only -d 'Read only the host\'s network namespace. By default, as root on the live host, every other namespace (containers, pods, `ip netns`) is read as well'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from attach" -l json -d 'Machine-readable JSON on stdout; logs go to stderr'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from attach" -s v -l verbose -d 'More logging (repeat for more)'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from attach" -s q -l quiet -d 'Less logging'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from attach" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from detach" -l proc-root -d 'Read procfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from detach" -l sys-root -d 'Read sysfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from detach" -l netns -d 'Read per-namespace counters and sysctls inside this network namespace (a name under /run/netns or a path such as /proc/PID/ns/net)' -r
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from detach" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from detach" -l host-only -d 'Read only the host\'s network namespace. By default, as root on the live host, every other namespace (containers, pods, `ip netns`) is read as well'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from detach" -l json -d 'Machine-readable JSON on stdout; logs go to stderr'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from detach" -s v -l verbose -d 'More logging (repeat for more)'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from detach" -s q -l quiet -d 'Less logging'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from detach" -s h -l help -d 'Print help'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from stats" -l proc-root -d 'Read procfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from stats" -l sys-root -d 'Read sysfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from stats" -l netns -d 'Read per-namespace counters and sysctls inside this network namespace (a name under /run/netns or a path such as /proc/PID/ns/net)' -r
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from stats" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from stats" -l host-only -d 'Read only the host\'s network namespace. By default, as root on the live host, every other namespace (containers, pods, `ip netns`) is read as well'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from stats" -l json -d 'Machine-readable JSON on stdout; logs go to stderr'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from stats" -s v -l verbose -d 'More logging (repeat for more)'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from stats" -s q -l quiet -d 'Less logging'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from stats" -s h -l help -d 'Print help'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from help" -f -a "attach" -d 'Attach the filter to IFACE (native XDP where the driver supports it, generic otherwise)'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from help" -f -a "detach" -d 'Detach nettune\'s filter from IFACE'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from help" -f -a "stats" -d 'Print the filter\'s counters on IFACE'
complete -c nettune -n "__fish_nettune_using_subcommand xdp; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and not __fish_seen_subcommand_from status unpin help" -l interval -d 'Time between windows (the loop also wakes on eBPF-seen bursts of drops)' -r
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and not __fish_seen_subcommand_from status unpin help" -l profile -d 'Tuning profile: balanced, throughput, latency, web-gateway, stream-ingest, cdn, or a FILE.toml (its intent shapes the rules, as for `tune`)' -r
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and not __fish_seen_subcommand_from status unpin help" -l only -d 'Only act on these findings (ids, or areas such as `softnet`), comma-separated' -r
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and not __fish_seen_subcommand_from status unpin help" -l listen -d 'Serve the exporter\'s /metrics plus nettune_autotune_* on this address' -r
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and not __fish_seen_subcommand_from status unpin help" -l decay -d 'Decay: after this long without its symptom, a key autotune raised steps halfway back toward the administrator\'s baseline (verified; off by default; overrides the profile\'s `decay`). Capacity limits (backlog, somaxconn, conntrack max, gc_thresh, port range) decay only when the profile lists them in `decay_limits`' -r
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and not __fish_seen_subcommand_from status unpin help" -l netns-prefix -d 'Watch only the other namespaces whose name starts with PREFIX (the host\'s is always watched), e.g. `pod ` for pods only' -r
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and not __fish_seen_subcommand_from status unpin help" -l proc-root -d 'Read procfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and not __fish_seen_subcommand_from status unpin help" -l sys-root -d 'Read sysfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and not __fish_seen_subcommand_from status unpin help" -l netns -d 'Read per-namespace counters and sysctls inside this network namespace (a name under /run/netns or a path such as /proc/PID/ns/net)' -r
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and not __fish_seen_subcommand_from status unpin help" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and not __fish_seen_subcommand_from status unpin help" -l dry-run -d 'Print what it would do; write nothing (no journal, no state file)'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and not __fish_seen_subcommand_from status unpin help" -l rollback-on-exit -d 'On SIGTERM/SIGINT roll back what this run wrote (never over a pinned key)'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and not __fish_seen_subcommand_from status unpin help" -l no-ebpf -d 'Do not start the eBPF drop watch: wake at the interval only'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and not __fish_seen_subcommand_from status unpin help" -l host-only -d 'Read only the host\'s network namespace. By default, as root on the live host, every other namespace (containers, pods, `ip netns`) is read as well'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and not __fish_seen_subcommand_from status unpin help" -l json -d 'Machine-readable JSON on stdout; logs go to stderr'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and not __fish_seen_subcommand_from status unpin help" -s v -l verbose -d 'More logging (repeat for more)'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and not __fish_seen_subcommand_from status unpin help" -s q -l quiet -d 'Less logging'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and not __fish_seen_subcommand_from status unpin help" -s h -l help -d 'Print help'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and not __fish_seen_subcommand_from status unpin help" -f -a "status" -d 'Pins, last decisions and values vs the administrator\'s baseline (works while the daemon runs)'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and not __fish_seen_subcommand_from status unpin help" -f -a "unpin" -d 'Tune KEY again (it was pinned because an administrator set it)'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and not __fish_seen_subcommand_from status unpin help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and __fish_seen_subcommand_from status" -l proc-root -d 'Read procfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and __fish_seen_subcommand_from status" -l sys-root -d 'Read sysfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and __fish_seen_subcommand_from status" -l netns -d 'Read per-namespace counters and sysctls inside this network namespace (a name under /run/netns or a path such as /proc/PID/ns/net)' -r
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and __fish_seen_subcommand_from status" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and __fish_seen_subcommand_from status" -l host-only -d 'Read only the host\'s network namespace. By default, as root on the live host, every other namespace (containers, pods, `ip netns`) is read as well'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and __fish_seen_subcommand_from status" -l json -d 'Machine-readable JSON on stdout; logs go to stderr'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and __fish_seen_subcommand_from status" -s v -l verbose -d 'More logging (repeat for more)'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and __fish_seen_subcommand_from status" -s q -l quiet -d 'Less logging'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and __fish_seen_subcommand_from unpin" -l namespace -d 'Only the pin in this namespace (`host` or its name); default every namespace' -r
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and __fish_seen_subcommand_from unpin" -l proc-root -d 'Read procfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and __fish_seen_subcommand_from unpin" -l sys-root -d 'Read sysfs from here' -r -F
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and __fish_seen_subcommand_from unpin" -l netns -d 'Read per-namespace counters and sysctls inside this network namespace (a name under /run/netns or a path such as /proc/PID/ns/net)' -r
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and __fish_seen_subcommand_from unpin" -l color -d 'Colour output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and __fish_seen_subcommand_from unpin" -l host-only -d 'Read only the host\'s network namespace. By default, as root on the live host, every other namespace (containers, pods, `ip netns`) is read as well'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and __fish_seen_subcommand_from unpin" -l json -d 'Machine-readable JSON on stdout; logs go to stderr'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and __fish_seen_subcommand_from unpin" -s v -l verbose -d 'More logging (repeat for more)'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and __fish_seen_subcommand_from unpin" -s q -l quiet -d 'Less logging'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and __fish_seen_subcommand_from unpin" -s h -l help -d 'Print help'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and __fish_seen_subcommand_from help" -f -a "status" -d 'Pins, last decisions and values vs the administrator\'s baseline (works while the daemon runs)'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and __fish_seen_subcommand_from help" -f -a "unpin" -d 'Tune KEY again (it was pinned because an administrator set it)'
complete -c nettune -n "__fish_nettune_using_subcommand autotune; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nettune -n "__fish_nettune_using_subcommand help; and not __fish_seen_subcommand_from check snapshot tune rollback lab watch export drops xdp autotune help" -f -a "check" -d 'Sample a window, name the cause of packet loss or delay, and the fix (the main job)'
complete -c nettune -n "__fish_nettune_using_subcommand help; and not __fish_seen_subcommand_from check snapshot tune rollback lab watch export drops xdp autotune help" -f -a "snapshot" -d 'Save a capture (host facts + two snapshots) to JSON for offline analysis'
complete -c nettune -n "__fish_nettune_using_subcommand help; and not __fish_seen_subcommand_from check snapshot tune rollback lab watch export drops xdp autotune help" -f -a "tune" -d 'Print the plan that fixes the findings; `--apply` applies it as one transaction'
complete -c nettune -n "__fish_nettune_using_subcommand help; and not __fish_seen_subcommand_from check snapshot tune rollback lab watch export drops xdp autotune help" -f -a "rollback" -d 'Undo an applied transaction exactly (`--list` shows them)'
complete -c nettune -n "__fish_nettune_using_subcommand help; and not __fish_seen_subcommand_from check snapshot tune rollback lab watch export drops xdp autotune help" -f -a "lab" -d 'Reproduce a fault in throwaway namespaces and run the whole loop on it'
complete -c nettune -n "__fish_nettune_using_subcommand help; and not __fish_seen_subcommand_from check snapshot tune rollback lab watch export drops xdp autotune help" -f -a "watch" -d 'Live view of rates per CPU / device / protocol and the active findings'
complete -c nettune -n "__fish_nettune_using_subcommand help; and not __fish_seen_subcommand_from check snapshot tune rollback lab watch export drops xdp autotune help" -f -a "export" -d 'Prometheus exporter (HTTP /metrics) or node_exporter textfile output'
complete -c nettune -n "__fish_nettune_using_subcommand help; and not __fish_seen_subcommand_from check snapshot tune rollback lab watch export drops xdp autotune help" -f -a "drops" -d 'Kernel drop reasons and locations via eBPF (`skb:kfree_skb`)'
complete -c nettune -n "__fish_nettune_using_subcommand help; and not __fish_seen_subcommand_from check snapshot tune rollback lab watch export drops xdp autotune help" -f -a "xdp" -d 'XDP early-drop filter: attach IFACE [--deny CIDR].. [--syn-rate N] | detach | stats'
complete -c nettune -n "__fish_nettune_using_subcommand help; and not __fish_seen_subcommand_from check snapshot tune rollback lab watch export drops xdp autotune help" -f -a "autotune" -d 'Closed-loop daemon: fix what it measures, bounded and verified (`status`, `unpin KEY`)'
complete -c nettune -n "__fish_nettune_using_subcommand help; and not __fish_seen_subcommand_from check snapshot tune rollback lab watch export drops xdp autotune help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nettune -n "__fish_nettune_using_subcommand help; and __fish_seen_subcommand_from lab" -f -a "list" -d 'List the scenarios (name and one-line description)'
complete -c nettune -n "__fish_nettune_using_subcommand help; and __fish_seen_subcommand_from lab" -f -a "run" -d 'Run scenarios: fault, traffic, check, apply the plan, re-measure, clean up'
complete -c nettune -n "__fish_nettune_using_subcommand help; and __fish_seen_subcommand_from xdp" -f -a "attach" -d 'Attach the filter to IFACE (native XDP where the driver supports it, generic otherwise)'
complete -c nettune -n "__fish_nettune_using_subcommand help; and __fish_seen_subcommand_from xdp" -f -a "detach" -d 'Detach nettune\'s filter from IFACE'
complete -c nettune -n "__fish_nettune_using_subcommand help; and __fish_seen_subcommand_from xdp" -f -a "stats" -d 'Print the filter\'s counters on IFACE'
complete -c nettune -n "__fish_nettune_using_subcommand help; and __fish_seen_subcommand_from autotune" -f -a "status" -d 'Pins, last decisions and values vs the administrator\'s baseline (works while the daemon runs)'
complete -c nettune -n "__fish_nettune_using_subcommand help; and __fish_seen_subcommand_from autotune" -f -a "unpin" -d 'Tune KEY again (it was pinned because an administrator set it)'
