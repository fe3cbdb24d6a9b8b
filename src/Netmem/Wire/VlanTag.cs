namespace Netmem.Wire;

/// <summary>
/// The 16-bit tag control information of an IEEE 802.1Q tag: priority code point (3 bits), drop
/// eligible indicator (1 bit) and VLAN id (12 bits). The TPID (0x8100) in front of it is implied.
/// </summary>
public readonly record struct VlanTag
{
    public VlanTag(ushort id, byte priority = 0, bool dropEligible = false)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(id, (ushort)0x0FFF);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(priority, (byte)7);
        Tci = (ushort)((priority << 13) | (dropEligible ? 0x1000 : 0) | id);
    }

    private VlanTag(ushort tci, bool _) => Tci = tci;

    /// <summary>From the raw TCI as it appears on the wire (host order). Every value is valid.</summary>
    public static VlanTag FromTci(ushort tci) => new(tci, false);

    /// <summary>The raw tag control information.</summary>
    public ushort Tci { get; }

    /// <summary>VLAN id 0..4095 (0: priority tag only, 4095: reserved).</summary>
    public ushort Id => (ushort)(Tci & 0x0FFF);
    /// <summary>Priority code point 0..7 (IEEE 802.1p).</summary>
    public byte Priority => (byte)(Tci >> 13);
    /// <summary>Drop eligible indicator (formerly CFI).</summary>
    public bool DropEligible => (Tci & 0x1000) != 0;
}
