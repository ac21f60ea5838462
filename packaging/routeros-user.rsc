# tether: least-privilege RouterOS API group and user (RouterOS v7).
#
# Paste into a terminal of an admin session, or upload and run
# `/import file-name=routeros-user.rsc`. Edit the two values first. It is
# idempotent: running it again resets the group's policies and the user's
# allowed address (not the password of an existing user).
#
# Why these policies (docs/routeros.md explains each):
#   api    log in over the API / api-ssl — the only way tether talks
#   read   read the menus it reconciles, /system/clock, health state
#   write  add/set/remove its own items; create the dead-man script+scheduler
#   test   /tool/ping from the router for the gate's declared probes
# and not: sensitive (tether never needs a private key: RouterOS generates
# the WireGuard key and only the public key is committed; without it the
# API hides private-key/preshared-key and secrets), policy (user and group
# management — the agent can never raise its own rights), password, reboot,
# ssh, telnet, ftp, winbox, web, rest-api, local, sniff, romon.
{
    # The companion host that runs tether-routeros.service.
    :local companion "192.168.88.10/32"
    # A long random password; put the same in the agent's password_file.
    :local password "REPLACE-ME-with-a-long-random-password"

    :local policies "api,read,write,test"
    :if ($password = "REPLACE-ME-with-a-long-random-password") do={
        :error "tether: set the password (and companion address) at the top of this script first"
    }

    /user group
    :if ([:len [find where name="tether"]] = 0) do={
        add name=tether policy=$policies comment="tether GitOps agent: API only"
    } else={
        set [find where name="tether"] policy=$policies
    }

    /user
    # address= refuses logins from anywhere but the companion, whatever
    # service a leaked password is tried on.
    :if ([:len [find where name="tether"]] = 0) do={
        add name=tether group=tether password=$password address=$companion comment="tether GitOps agent"
    } else={
        set [find where name="tether"] group=tether address=$companion
    }

    # tether speaks api-ssl (8729) only: turn the plaintext API off and let
    # api-ssl accept the companion alone. api-ssl needs a certificate
    # before it accepts connections: see docs/routeros.md.
    /ip service
    set api disabled=yes
    set api-ssl address=$companion
    :put "tether: group and user ready; now give api-ssl a certificate (docs/routeros.md)"
}
