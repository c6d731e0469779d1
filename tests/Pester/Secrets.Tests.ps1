<#
    Secrets stay secret: no password shows in any stream (output, error, warning, verbose, debug,
    information), in any emitted object or its JSON, or in any error record (message, details,
    target, exception with its inner exceptions, JSON), through a whole pipeline and through calls
    that fail. Run for the migration role's password and for a second role whose password holds
    every special character; a password is looked for as is, JSON-escaped, percent-encoded and
    SQL-escaped (Get-SecretForm).
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Hostile.Helpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force

    function Invoke-Captured {
        <#
            Runs a script block with every preference at Continue and returns every record of every
            stream it wrote (*>&1), in order, with the terminating error it ended with (if any) last.
            Defined here, not in a module, so that the preferences reach the script block's commands.
        #>
        param([Parameter(Mandatory)][scriptblock] $ScriptBlock)
        $VerbosePreference = 'Continue'
        $DebugPreference = 'Continue'
        $InformationPreference = 'Continue'
        $WarningPreference = 'Continue'
        $ErrorActionPreference = 'Continue'
        $ProgressPreference = 'SilentlyContinue'
        $records = [System.Collections.Generic.List[object]]::new()
        try {
            & $ScriptBlock *>&1 | ForEach-Object { $records.Add($_) }
        }
        catch {
            $records.Add($_)
        }
        $state.All.AddRange($records)
        , $records.ToArray()
    }

    function Assert-NoSecret {
        param([Parameter(Mandatory)][AllowEmptyCollection()][object[]] $Record)
        $found = @(Find-Secret -Record $Record -Secret $secrets)
        $found | Should -BeNullOrEmpty -Because "no password may show in any record ($($Record.Count) captured)"
    }

    function Get-CapturedError {
        param([Parameter(Mandatory)][AllowEmptyCollection()][object[]] $Record)
        @($Record | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] })
    }
}

Describe 'No password shows for <Who>' -Tag IntegrationTests -ForEach @(
    @{ Who = 'the migration role'; Role = 'Migrator' }
    @{ Who = 'a role whose password holds every special character'; Role = 'Special' }
) {
    BeforeAll {
        $pair = New-TestDatabasePair
        $state = @{ All = [System.Collections.Generic.List[object]]::new() }
        $sourceServer = Get-TestServer Source
        $targetServer = Get-TestServer Target
        $roleName = $null
        if ($Role -eq 'Special') {
            $roleName = 'confiture_secret_' + [Guid]::NewGuid().ToString('N').Substring(0, 8)
            $user = $roleName
            # Every printable ASCII special character, a space, percent signs that look like escapes, and non-ASCII.
            $password = 'P4ss ' + '!"#$%&''()*+,-./:;<=>?@[\]^_`{|}~' + ' %41%%2F é中 ' + [Guid]::NewGuid().ToString('N').Substring(0, 6)
            $literal = ConvertTo-SqlLiteral $password
            foreach ($side in 'Source', 'Target') {
                Invoke-TestSql -Side $side -Database postgres -Sql "CREATE ROLE $roleName LOGIN PASSWORD $literal" | Out-Null
            }
            Invoke-TestSql -Side Source -Database $pair.Database -Sql "CREATE TABLE accounts (id integer PRIMARY KEY, name text NOT NULL); GRANT SELECT ON accounts TO $roleName" | Out-Null
            Invoke-TestSql -Side Target -Database $pair.Database -Sql @"
GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO $roleName;
GRANT CREATE ON DATABASE $($pair.Database) TO $roleName;
CREATE TABLE accounts (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE accounts_numbers (id integer PRIMARY KEY, name integer NOT NULL);
ALTER TABLE accounts OWNER TO $roleName; ALTER TABLE accounts_numbers OWNER TO $roleName;
"@ | Out-Null
        }
        else {
            $user = $pair.MigratorUser
            $password = $pair.MigratorPassword
            Invoke-TestSql -Side Source -Database $pair.Database -Sql 'CREATE TABLE accounts (id integer PRIMARY KEY, name text NOT NULL)' | Out-Null
            Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql 'CREATE TABLE accounts (id integer PRIMARY KEY, name text NOT NULL); CREATE TABLE accounts_numbers (id integer PRIMARY KEY, name integer NOT NULL)' | Out-Null
        }
        Invoke-TestSql -Side Source -Database $pair.Database -Sql "INSERT INTO accounts SELECT g, 'account ' || g FROM generate_series(1, 500) g" | Out-Null
        $wrongPassword = 'Wr0ng ~|}{`_^]\[@?>=<;:/.-,+*)(''&%$#"! ' + [Guid]::NewGuid().ToString('N').Substring(0, 6)
        # Also as a keyword connection string quotes them (a password with quotes or semicolons is written quoted, quotes doubled).
        $quoted = foreach ($secret in $password, $wrongPassword) {
            $builder = [System.Data.Common.DbConnectionStringBuilder]::new()
            $builder['Password'] = $secret
            $builder.get_ConnectionString().Substring('password='.Length)
        }
        $secrets = @($password, $wrongPassword) + @($quoted | Where-Object { $_ -notin $password, $wrongPassword })

        $sourceCs = New-ConnectionString -Server $sourceServer -Database $pair.Database -Username $user -Password $password
        $targetUri = "postgresql://$([Uri]::EscapeDataString($user)):$([Uri]::EscapeDataString($password))@$($targetServer.Host):$($targetServer.Port)/$($pair.Database)?sslmode=prefer"
        $credential = [pscredential]::new($user, (ConvertTo-SecureString $password -AsPlainText -Force))
        $peer = Get-FdwAddressParameter $pair
    }

    AfterAll {
        if ($state.Migration) { $state.Migration | Remove-ConfitureFdw -ErrorAction SilentlyContinue }
        Remove-TestDatabasePair $pair
        if ($roleName) {
            foreach ($side in 'Source', 'Target') { Invoke-TestSql -Side $side -Database postgres -Sql "DROP ROLE IF EXISTS $roleName" | Out-Null }
        }
    }

    Context 'a whole migration' {
        It 'Connect-ConfitureDatabase with a keyword connection string' {
            $records = Invoke-Captured {
                $state.Source = Connect-ConfitureDatabase -ConnectionString $sourceCs -Name source -Verbose -Debug -ErrorVariable ev -WarningVariable wv -InformationVariable iv
                $state.Source; $ev; $wv; $iv
            }

            $state.Source | Should -BeOfType ([Confiture.PowerShell.Types.ConfitureConnection])
            $records | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | Should -Not -BeNullOrEmpty -Because 'the verbose stream is captured too'
            Assert-NoSecret $records
        }

        It 'Connect-ConfitureDatabase with a postgresql:// URI whose password is percent-encoded' {
            $records = Invoke-Captured {
                $state.Target = Connect-ConfitureDatabase -ConnectionString $targetUri -Name target -Verbose -Debug -ErrorVariable ev -WarningVariable wv -InformationVariable iv
                $state.Target; $ev; $wv; $iv
            }

            $state.Target | Should -BeOfType ([Confiture.PowerShell.Types.ConfitureConnection])
            $state.Target.User | Should -Be $user
            Assert-NoSecret $records
        }

        It 'Connect-ConfitureDatabase with -Credential' {
            $records = Invoke-Captured {
                $connection = Connect-ConfitureDatabase -Host $sourceServer.Host -Port $sourceServer.Port -Database $pair.Database -Credential $credential -Verbose -Debug -ErrorVariable ev
                $connection; $ev
            }

            Get-CapturedError $records | Should -BeNullOrEmpty
            Assert-NoSecret $records
        }

        It 'Enable-ConfitureFdw -WhatIf, whose statements go to the host' {
            $shown = Get-HostOutput { Enable-ConfitureFdw -Source $state.Source -Target $state.Target @peer -WhatIf }

            $shown.Text | Should -Match 'CREATE USER MAPPING' -Because 'the statements are listed'
            foreach ($form in $secrets | ForEach-Object { Get-SecretForm $_ }) {
                $shown.Text.Contains($form) | Should -BeFalse -Because 'the user mapping''s password shows masked'
            }
        }

        It 'Enable-ConfitureFdw -Verbose -Debug' {
            $records = Invoke-Captured {
                $state.Migration = Enable-ConfitureFdw -Source $state.Source -Target $state.Target @peer -Verbose -Debug -ErrorVariable ev -WarningVariable wv -InformationVariable iv
                $state.Migration; $ev; $wv; $iv
            }

            $state.Migration | Should -BeOfType ([Confiture.PowerShell.Types.ConfitureMigration])
            Get-CapturedError $records | Should -BeNullOrEmpty
            Assert-NoSecret $records
        }

        It 'stores the source password only in the user mapping, which works' {
            # The target reads the source through the mapping: the password went through intact, however special.
            (Invoke-TestSql -Side Target -Database $pair.Database -Username $user -Password $password -Sql 'SELECT count(*) FROM old_schema.accounts')[0] | Should -Be '500'
        }

        It 'Get-ConfitureStrategy -Verbose -Debug' {
            $records = Invoke-Captured {
                $state.Plan = @(Get-ConfitureStrategy -Migration $state.Migration -Verbose -Debug -ErrorVariable ev -WarningVariable wv -InformationVariable iv)
                $state.Plan; $ev; $wv; $iv
            }

            $state.Plan.Table | Should -Contain 'accounts'
            Assert-NoSecret $records
        }

        It 'Invoke-ConfitureTableMigration -Strategy <_> -Verbose -Debug' -ForEach 'Fdw', 'Copy' {
            $strategy = $_
            $records = Invoke-Captured {
                $result = Invoke-ConfitureTableMigration -Migration $state.Migration -SourceTable accounts -Strategy $strategy -Truncate -Force -Verbose -Debug -ErrorVariable ev -WarningVariable wv -InformationVariable iv
                $state.Result = $result
                $result; $ev; $wv; $iv
            }

            $state.Result.RowsMigrated | Should -Be 500
            Get-CapturedError $records | Should -BeNullOrEmpty
            Assert-NoSecret $records
        }

        It 'Test-ConfitureMigration -Checksum -Verbose -Debug' {
            $records = Invoke-Captured {
                $state.Result | Test-ConfitureMigration -Checksum -Verbose -Debug -ErrorVariable ev -WarningVariable wv -InformationVariable iv
                $ev; $wv; $iv
            }

            ($records | Where-Object { $_ -is [Confiture.PowerShell.Types.ConfitureVerification] }).Match | Should -BeTrue
            Assert-NoSecret $records
        }

        It 'emits objects whose JSON (-Depth 4) holds no password: connections, session, plan, result' {
            foreach ($item in @($state.Source, $state.Target, $state.Migration, $state.Plan[0], $state.Result)) {
                $json = $item | ConvertTo-Json -Depth 4 -WarningAction SilentlyContinue
                foreach ($form in $secrets | ForEach-Object { Get-SecretForm $_ }) {
                    $json.Contains($form) | Should -BeFalse -Because "the JSON of a $($item.GetType().Name) must not hold the password"
                }
            }
        }

        It 'Remove-ConfitureFdw -Verbose -Debug -PassThru' {
            $records = Invoke-Captured {
                $state.Migration | Remove-ConfitureFdw -PassThru -Verbose -Debug -ErrorVariable ev -WarningVariable wv -InformationVariable iv
                $ev; $wv; $iv
            }

            Get-CapturedError $records | Should -BeNullOrEmpty
            Assert-NoSecret $records
            (Get-FdwCatalogState -Pair $pair).UserMappings | Should -Be 0 -Because 'the mapping that held the password is gone'
            $state.Migration = $null
        }
    }

    Context 'calls that fail' {
        It 'a wrong password in a keyword connection string' {
            $wrong = New-ConnectionString -Server $sourceServer -Database $pair.Database -Username $user -Password $wrongPassword
            $records = Invoke-Captured { Connect-ConfitureDatabase -ConnectionString $wrong -Verbose -Debug }

            Get-ErrorId (Get-CapturedError $records)[0] | Should -Be 'Confiture.AuthenticationFailed'
            Assert-NoSecret $records
        }

        It 'a wrong password in a URI' {
            $wrong = "postgresql://$([Uri]::EscapeDataString($user)):$([Uri]::EscapeDataString($wrongPassword))@$($sourceServer.Host):$($sourceServer.Port)/$($pair.Database)"
            $records = Invoke-Captured { Connect-ConfitureDatabase -ConnectionString $wrong -Verbose -Debug }

            Get-ErrorId (Get-CapturedError $records)[0] | Should -Be 'Confiture.AuthenticationFailed'
            Assert-NoSecret $records
        }

        It 'a wrong password through -Credential' {
            $wrong = [pscredential]::new($user, (ConvertTo-SecureString $wrongPassword -AsPlainText -Force))
            $records = Invoke-Captured { Connect-ConfitureDatabase -Host $sourceServer.Host -Port $sourceServer.Port -Database $pair.Database -Credential $wrong -Verbose -Debug }

            Get-ErrorId (Get-CapturedError $records)[0] | Should -Be 'Confiture.AuthenticationFailed'
            Assert-NoSecret $records
        }

        It 'a URI whose password was not percent-encoded (refused, or read leniently)' {
            $bad = "postgresql://$([Uri]::EscapeDataString($user)):$password@$($sourceServer.Host):$($sourceServer.Port)/$($pair.Database)"
            $records = Invoke-Captured { Connect-ConfitureDatabase -ConnectionString $bad -Verbose -Debug }

            @($records | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] -or $_ -is [Confiture.PowerShell.Types.ConfitureConnection] }) | Should -Not -BeNullOrEmpty
            Assert-NoSecret $records
        }

        It 'Enable-ConfitureFdw refused with Confiture.ForeignSchemaNotEmpty' {
            $records = Invoke-Captured { Enable-ConfitureFdw -Source $state.Source -Target $state.Target @peer -ForeignSchema public -Verbose -Debug }

            Get-ErrorId (Get-CapturedError $records)[0] | Should -Be 'Confiture.ForeignSchemaNotEmpty'
            Assert-NoSecret $records
        }

        It 'Enable-ConfitureFdw failing because the target cannot reach the source' {
            $records = Invoke-Captured {
                Enable-ConfitureFdw -Source $state.Source -Target $state.Target -SourceHostForTarget 127.0.0.1 -SourcePortForTarget (Get-FreeTcpPort) -ServerName unreachable_server -ForeignSchema unreachable_schema -Verbose -Debug
            }

            Get-ErrorId (Get-CapturedError $records)[0] | Should -Be 'Confiture.FdwConnectionFailed'
            Assert-NoSecret $records
        }

        It 'a migration that fails on a value that cannot be cast, with <_>' -ForEach 'Fdw', 'Copy' {
            $strategy = $_
            $migration = Enable-ConfitureFdw -Source $state.Source -Target $state.Target @peer -ServerName failing_server -ForeignSchema failing_schema
            try {
                $records = Invoke-Captured {
                    Invoke-ConfitureTableMigration -Migration $migration -SourceTable accounts -TargetTable accounts_numbers -Strategy $strategy -Verbose -Debug -ErrorVariable ev -WarningVariable wv
                    $ev; $wv
                }
            }
            finally {
                $migration | Remove-ConfitureFdw
            }

            Get-ErrorId (Get-CapturedError $records)[0] | Should -Be 'Confiture.ValueDoesNotFit'
            Assert-NoSecret $records
        }
    }

    Context 'records as runbooks log them' {
        It 'serializes every record captured above with ConvertTo-Json -Depth 5' {
            $state.All.Count | Should -BeGreaterThan 20
            $failures = @(Find-JsonFailure -Record $state.All.ToArray() -Depth 5)
            $failures | Select-Object -Unique | Should -BeNullOrEmpty -Because 'a runbook logs each record as JSON, and that must not fail'
        }

        It 'shows no password in the JSON of the verbose, warning, debug and information records either (their InvocationInfo)' {
            $streamRecords = @($state.All | Where-Object { Test-StreamRecord $_ })
            $streamRecords.Count | Should -BeGreaterThan 10
            # Their InvocationInfo.BoundParameters holds what the command was given: a -ConnectionString with the password in it.
            $found = @(Find-Secret -Record $streamRecords -Secret $secrets -JsonOfStreamRecords)
            $found | Should -BeNullOrEmpty -Because 'a runbook that logs its verbose stream as JSON must not log the password'
        }
    }
}

Describe 'No part of a malformed connection string shows' -Tag UnitTests {
    BeforeAll {
        # The tail a malformed string cuts off its password: what a careless message would quote.
        $tail = 'Qx9TailOfThePassword'
    }

    It 'in the error record, $Error or a transcript for <Case>' -ForEach @(
        @{ Case = 'an unquoted ; in the password'; Text = "Host=db;Username=app;Password=Pa;ss$tail" }
        @{ Case = 'an unquoted ; and = in the password'; Text = "Host=db;Username=app;Password=Pa;ss$tail=1" }
        @{ Case = 'an unterminated quote'; Text = "Host=db;Username=app;Password='Pa ss$tail" }
        @{ Case = 'a value of the wrong type'; Text = "Host=db;Password=Pass$tail;Port=Pass$tail" }
        @{ Case = 'a URI that lost its @'; Text = "postgresql://app:Pass$tail" }
        @{ Case = 'an unencoded & in a URI password'; Text = "postgresql://db/shop?password=Pa&ss$tail" }
    ) {
        $transcript = Join-Path ([IO.Path]::GetTempPath()) "confiture-transcript-$([Guid]::NewGuid().ToString('N')).txt"
        $Error.Clear()
        Start-Transcript -Path $transcript | Out-Null
        try {
            # As a console shows it, so that the transcript holds the rendered error.
            try { Connect-ConfitureDatabase -ConnectionString $Text } catch { $_ | Out-Host }
        }
        finally {
            Stop-Transcript | Out-Null
        }
        $failure = $Error[0]

        $failure | Should -Not -BeNullOrEmpty
        $failure.FullyQualifiedErrorId | Should -BeLike 'Confiture.InvalidConnectionString,*'
        $texts = @(
            $failure.ToString(), "$($failure.ErrorDetails.Message)", "$($failure.ErrorDetails.RecommendedAction)", "$($failure.TargetObject)",
            ($failure | Format-List * -Force | Out-String), ($failure.Exception | Format-List * -Force | Out-String),
            ($failure | ConvertTo-Json -Depth 4 -WarningAction SilentlyContinue), (Get-Content -Raw $transcript)
        )
        for ($e = $failure.Exception; $e; $e = $e.InnerException) { $texts += $e.ToString() }
        Remove-Item $transcript -ErrorAction SilentlyContinue
        foreach ($text in $texts) {
            $text | Should -Not -BeLike "*$($tail.Substring(0, 8))*"
            $text | Should -Not -BeLike "*Pass$($tail.Substring(0, 3))*"
        }
    }
}
