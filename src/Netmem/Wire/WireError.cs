namespace Netmem.Wire;

/// <summary>Why a packet view or repr could not be made: every parse failure is one of these, never an exception.</summary>
public enum WireError
{
    None,
    /// <summary>The buffer ends before the header (or the length the header claims) does.</summary>
    Truncated,
    /// <summary>A version field that is not ours (IPv4 version 4).</summary>
    BadVersion,
    /// <summary>A header length field below the minimum or past the buffer (IHL, TCP data offset).</summary>
    BadHeaderLength,
    /// <summary>A total length field that disagrees with the header or the buffer.</summary>
    BadLength,
    BadChecksum,
    /// <summary>A TCP option whose length is malformed.</summary>
    BadOption,
    /// <summary>Well formed, but not something this stack handles (ARP for another hardware type, say).</summary>
    Unsupported,
}
