namespace Netmem.Wire;

/// <summary>ICMPv4 message types (RFC 792, RFC 1122). Any byte is a valid value; these are named.</summary>
public enum Icmpv4Message : byte
{
    EchoReply = 0,
    DestinationUnreachable = 3,
    SourceQuench = 4,
    Redirect = 5,
    EchoRequest = 8,
    RouterAdvertisement = 9,
    RouterSolicitation = 10,
    TimeExceeded = 11,
    ParameterProblem = 12,
    Timestamp = 13,
    TimestampReply = 14,
}

/// <summary>Codes of <see cref="Icmpv4Message.DestinationUnreachable"/> (RFC 792, RFC 1122, RFC 1812).</summary>
public enum Icmpv4Unreachable : byte
{
    NetUnreachable = 0,
    HostUnreachable = 1,
    ProtocolUnreachable = 2,
    PortUnreachable = 3,
    /// <summary>Fragmentation needed and DF set; the message carries the next-hop MTU (RFC 1191).</summary>
    FragmentationNeeded = 4,
    SourceRouteFailed = 5,
    NetUnknown = 6,
    HostUnknown = 7,
    SourceHostIsolated = 8,
    NetProhibited = 9,
    HostProhibited = 10,
    NetUnreachableForTos = 11,
    HostUnreachableForTos = 12,
    CommunicationProhibited = 13,
    HostPrecedenceViolation = 14,
    PrecedenceCutoff = 15,
}

/// <summary>Codes of <see cref="Icmpv4Message.TimeExceeded"/>.</summary>
public enum Icmpv4TimeExceeded : byte
{
    TtlExpired = 0,
    FragmentReassemblyTimeExceeded = 1,
}
