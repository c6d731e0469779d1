namespace Confiture.TestServers;

/// <summary>One PostgreSQL server of a <see cref="TestServerPair"/>.</summary>
/// <param name="AdminConnectionString">Superuser connection to the database "postgres".</param>
/// <param name="Host">Host name as seen from this process.</param>
/// <param name="Port">Port as seen from this process.</param>
/// <param name="HostForPeer">Host name by which the other server of the pair reaches this one (for postgres_fdw).</param>
/// <param name="PortForPeer">Port by which the other server of the pair reaches this one.</param>
public sealed record TestServer(
    string AdminConnectionString,
    string Host,
    int Port,
    string HostForPeer,
    int PortForPeer);
