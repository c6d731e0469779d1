<#
    A source password that Npgsql found by itself (PGPASSWORD, a password file) reaches the user
    mapping too: Connect-ConfitureDatabase works with it, and so must Enable-ConfitureFdw, whose
    target server cannot read this machine's environment or files.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force

    function Get-SourceWithoutPassword($Pair) {
        $server = Get-TestServer Source
        "Host=$($server.Host);Port=$($server.Port);Database=$($Pair.Database);Username=$($Pair.MigratorUser)"
    }
}

Describe 'Enable-ConfitureFdw with the source password from <Origin>' -Tag IntegrationTests -ForEach @(
    @{ Origin = 'PGPASSWORD' }
    @{ Origin = 'a password file (PGPASSFILE)' }
) {
    BeforeAll {
        $pair = New-TestDatabasePair
        Invoke-TestSql -Side Source -Database $pair.Database -Sql 'CREATE TABLE users (id integer PRIMARY KEY); INSERT INTO users SELECT generate_series(1, 6)' | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $saved = @{ PGPASSWORD = $env:PGPASSWORD; PGPASSFILE = $env:PGPASSFILE }
        $passfile = $null
        if ($Origin -eq 'PGPASSWORD') {
            $env:PGPASSWORD = $pair.MigratorPassword
        }
        else {
            # The migration role's password holds ':' and '\', which the file escapes.
            $server = Get-TestServer Source
            $escaped = $pair.MigratorPassword.Replace('\', '\\').Replace(':', '\:')
            $passfile = Join-Path ([IO.Path]::GetTempPath()) "confiture-pgpass-$([Guid]::NewGuid().ToString('N'))"
            Set-Content -Path $passfile -Value @('# another server first', "elsewhere:5432:*:*:wrong", "$($server.Host):$($server.Port):$($pair.Database):$($pair.MigratorUser):$escaped")
            if ($IsLinux -or $IsMacOS) { & chmod 600 $passfile }
            $env:PGPASSFILE = $passfile
        }
        $src = Connect-ConfitureDatabase (Get-SourceWithoutPassword $pair)
        $tgt = Connect-ConfitureDatabase $pair.TargetMigrator
    }

    AfterAll {
        $env:PGPASSWORD = $saved.PGPASSWORD
        $env:PGPASSFILE = $saved.PGPASSFILE
        if ($passfile) { Remove-Item $passfile -ErrorAction SilentlyContinue }
        Remove-TestDatabasePair $pair
    }

    It 'sets up a user mapping that works for the migration role' {
        $migration = Enable-ConfitureFdw -Source $src -Target $tgt @peer -Confirm:$false

        Get-TestSqlValue -Side Target -Database $pair.Database -AsMigrator -Sql 'SELECT count(*) FROM old_schema.users' | Should -Be '6'
        $migration | Remove-ConfitureFdw -Confirm:$false
    }
}
