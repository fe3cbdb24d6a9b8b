namespace Netmem.Devices;

/// <summary>
/// An XDP program as far as the device core knows it: something attached to a device
/// (<see cref="NetDevice.SetXdpProgram"/>) that memory-provider binding must respect. It has no run hook
/// yet; the XDP and AF_XDP work adds one to this type.
/// </summary>
public sealed class XdpProgram(string name)
{
    public string Name { get; } = string.IsNullOrEmpty(name) ? throw new ArgumentException("an XDP program needs a name", nameof(name)) : name;

    public override string ToString() => $"xdp {Name}";
}
