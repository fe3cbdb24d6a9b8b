namespace Netmem.Wire;

/// <summary>ARP opcode (RFC 826); RARP and InARP codes are not spoken.</summary>
public enum ArpOperation : ushort
{
    Request = 1,
    Reply = 2,
}
