namespace Netmem.Wire;

/// <summary>One SACK block (RFC 2018): the received range [<see cref="Left"/>, <see cref="Right"/>) in sequence space.</summary>
public readonly record struct TcpSackBlock(uint Left, uint Right);
