[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("Netmem.Tests")]
