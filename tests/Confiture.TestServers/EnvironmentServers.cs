using System.Globalization;
using Npgsql;

namespace Confiture.TestServers;

/// <summary>Servers someone else runs, named by environment variables; nothing to start or stop.</summary>
internal static class EnvironmentServers
{
    public const string SourceVariable = "CONFITURE_TEST_SOURCE";
    public const string TargetVariable = "CONFITURE_TEST_TARGET";
    public const string SourceHostForTargetVariable = "CONFITURE_TEST_SOURCE_HOST_FOR_TARGET";
    public const string SourcePortForTargetVariable = "CONFITURE_TEST_SOURCE_PORT_FOR_TARGET";
    private const int DefaultPort = 5432;

    public static bool TryRead(out TestServer source, out TestServer target)
    {
        var sourceConnectionString = Environment.GetEnvironmentVariable(SourceVariable);
        var targetConnectionString = Environment.GetEnvironmentVariable(TargetVariable);
        if (string.IsNullOrWhiteSpace(sourceConnectionString) || string.IsNullOrWhiteSpace(targetConnectionString))
        {
            source = target = null!;
            return false;
        }

        source = Describe(
            sourceConnectionString,
            Environment.GetEnvironmentVariable(SourceHostForTargetVariable),
            Environment.GetEnvironmentVariable(SourcePortForTargetVariable));
        target = Describe(targetConnectionString, null, null);
        return true;
    }

    private static TestServer Describe(string connectionString, string? hostForPeer, string? portForPeer)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (string.IsNullOrEmpty(builder.Database))
        {
            builder.Database = ConnectionStrings.MaintenanceDatabase;
        }

        var host = builder.Host ?? throw new InvalidOperationException("A CONFITURE_TEST_* connection string has no Host.");
        var port = builder.Port == 0 ? DefaultPort : builder.Port;
        var peerPort = port;
        if (!string.IsNullOrWhiteSpace(portForPeer)
            && !int.TryParse(portForPeer, NumberStyles.None, CultureInfo.InvariantCulture, out peerPort))
        {
            throw new InvalidOperationException($"{SourcePortForTargetVariable} is not a port number: '{portForPeer}'.");
        }

        return new TestServer(
            builder.ConnectionString,
            host,
            port,
            string.IsNullOrWhiteSpace(hostForPeer) ? host : hostForPeer,
            peerPort);
    }
}
