using System.Net;
using System.Net.Sockets;
using Confiture.Core;
using Confiture.Core.Connections;
using Confiture.Tests.Unit.Infrastructure;
using Confiture.TestServers;
using Npgsql;

namespace Confiture.Tests.Unit.Integration;

[Collection(ServerCollection.Name)]
public sealed class ConnectionTests(ServerFixture fixture)
{
    [Fact]
    public async Task A_keyword_string_connects_and_describes_the_server()
    {
        await using var endpoint = DatabaseEndpoint.FromConnectionString(fixture.Servers.Target.AdminConnectionString);

        var description = await endpoint.DescribeAsync();

        Assert.Equal("postgres", description.User);
        Assert.True(description.IsSuperuser);
        Assert.True(description.Version.Major >= 12);
    }

    [Fact]
    public async Task A_uri_with_a_password_that_needs_encoding_connects_as_the_migration_role()
    {
        var server = fixture.Servers.Target;
        var uri = $"postgresql://{TestRoles.MigratorUser}:{Uri.EscapeDataString(TestRoles.MigratorPassword)}@{server.Host}:{server.Port}/postgres";
        await using var endpoint = DatabaseEndpoint.FromConnectionString(uri);

        var description = await endpoint.DescribeAsync();

        Assert.Equal(TestRoles.MigratorUser, description.User);
        Assert.False(description.IsSuperuser);
    }

    [Fact]
    public async Task Parts_connect_like_a_credential_would()
    {
        var server = fixture.Servers.Target;
        await using var endpoint = DatabaseEndpoint.FromParts(server.Host, server.Port, "postgres", TestRoles.MigratorUser, TestRoles.MigratorPassword, "disable");

        Assert.Equal(TestRoles.MigratorUser, (await endpoint.DescribeAsync()).User);
    }

    [Fact]
    public async Task A_wrong_password_is_an_authentication_error_that_does_not_repeat_it()
    {
        var builder = new NpgsqlConnectionStringBuilder(fixture.Servers.Target.AdminConnectionString) { Password = "Wrong'Pass;word42" };
        await using var endpoint = DatabaseEndpoint.FromConnectionString(builder.ConnectionString);

        var error = await Assert.ThrowsAsync<ConfitureException>(() => endpoint.DescribeAsync());

        Assert.Equal(ConfitureErrorKind.AuthenticationFailed, error.Kind);
        Assert.DoesNotContain("Wrong'Pass;word42", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_port_is_a_connection_error()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        await using var endpoint = DatabaseEndpoint.FromParts("127.0.0.1", port, "postgres", "postgres", "x");

        var error = await Assert.ThrowsAsync<ConfitureException>(() => endpoint.DescribeAsync());

        Assert.Equal(ConfitureErrorKind.ConnectionFailed, error.Kind);
        Assert.Contains(port.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_database_is_named_in_the_error()
    {
        var builder = new NpgsqlConnectionStringBuilder(fixture.Servers.Target.AdminConnectionString) { Database = "no_such_db_here" };
        await using var endpoint = DatabaseEndpoint.FromConnectionString(builder.ConnectionString);

        var error = await Assert.ThrowsAsync<ConfitureException>(() => endpoint.DescribeAsync());

        Assert.Equal(ConfitureErrorKind.DatabaseNotFound, error.Kind);
        Assert.Contains("no_such_db_here", error.Message, StringComparison.Ordinal);
    }
}
