namespace Netmem.Wire;

/// <summary>
/// Why a packet view or repr could not be built from wire bytes. Wire input is untrusted, so every
/// check in <c>TryCreate</c> and <c>Parse</c> reports one of these instead of throwing; the value is small
/// and dense so a receive path can count drops by reason in an array indexed by it.
/// </summary>
public enum ParseResult : byte
{
    /// <summary>The bytes form a valid header (and, for reprs, a supported packet).</summary>
    Ok = 0,
    /// <summary>The buffer ends before the header, or before a length the header claims.</summary>
    Truncated,
    /// <summary>The IP version field is not 4.</summary>
    BadVersion,
    /// <summary>A header length field (IPv4 IHL, TCP data offset) is below the fixed header size.</summary>
    BadHeaderLength,
    /// <summary>The IPv4 total length is shorter than the header it contains.</summary>
    BadTotalLength,
    /// <summary>A protocol length field (UDP length) is shorter than its own header.</summary>
    BadLength,
    /// <summary>The checksum does not verify.</summary>
    BadChecksum,
    /// <summary>A TCP option has a length that is impossible for its kind or runs past the options area.</summary>
    BadOption,
    /// <summary>Well formed, but a kind this stack does not speak (ARP for another link or protocol, an ICMP type, 802.3 framing).</summary>
    Unsupported,
}
