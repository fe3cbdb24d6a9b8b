using Netmem.Memory;
using Netmem.Wire;

namespace Netmem.Drivers.Tap;

/// <summary>Settings for <see cref="TapDevice.Create"/>; every default is what <c>new()</c> gives.</summary>
public sealed record TapOptions
{
    /// <summary>Interface name (at most 15 bytes; "%d" lets the kernel number it). Default "nmtap%d".</summary>
    public string Name { get; init; } = "nmtap%d";
    /// <summary>RX/TX queue pairs; more than one opens the tap with IFF_MULTI_QUEUE, one fd per pair. Default 1.</summary>
    public int Queues { get; init; } = 1;
    /// <summary>MTU of our side at start. Default 1500.</summary>
    public int Mtu { get; init; } = 1500;
    /// <summary>
    /// Checksum offload and TSO in both directions (TUNSETOFFLOAD TUN_F_CSUM | TUN_F_TSO4, and the
    /// Sg/IpCsum/Tso/RxCsum/Gro features). Off: TUNSETOFFLOAD(0), so the kernel hands over only
    /// complete, checksummed frames of at most its MTU. Default true.
    /// </summary>
    public bool Offloads { get; init; } = true;
    /// <summary>Also take UDP GSO super-frames (TUN_F_USO4 | TUN_F_USO6, set together; needs Linux 6.2). Default false.</summary>
    public bool UdpSegmentationOffload { get; init; }
    /// <summary>
    /// A poll(2) thread per queue raises the "interrupt" (schedules the queue's NAPI) and the NAPI
    /// contexts get their own threads. Default false: the caller drives <see cref="TapDevice.PollAll"/>.
    /// </summary>
    public bool ThreadedNapi { get; init; }
    /// <summary>TUNSETPERSIST: the interface outlives the fds (the CLI's <c>netmem tap up</c>). Default false.</summary>
    public bool Persist { get; init; }
    /// <summary>Our MAC address (the kernel side has its own). Default: a locally administered address.</summary>
    public EthernetAddress? Address { get; init; }
    /// <summary>Where RX buffers and skb heads come from. Null means <see cref="PageArena.Shared"/>.</summary>
    public PageArena? Arena { get; init; }
}
