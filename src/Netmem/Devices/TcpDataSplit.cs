namespace Netmem.Devices;

/// <summary><c>ETHTOOL_TCP_DATA_SPLIT_*</c>: header/data split setting as ethtool reports and sets it.</summary>
public enum TcpDataSplit : byte
{
    /// <summary>UNKNOWN (0): as a setting, "auto" (the driver decides).</summary>
    Auto = 0,
    /// <summary>DISABLED (1).</summary>
    Off = 1,
    /// <summary>ENABLED (2).</summary>
    On = 2,
}
